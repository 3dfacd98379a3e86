"""Rehearse a server-deployment tutorial on a real guest and prove, step by step, whether it holds.

Layers, each importing only from the ones below it (an import-linter contract in pyproject.toml):

    cli         the `rehearse` command
    rehearsal   the runner: applies a platform's plan to a guest, checks claims, keeps the record
    platforms   where the tutorial runs: deviations, image recipe, what the checks expect
    guests | reports | tutorial
                how guests are made and reached | the record and its renderings | the tutorial as data
    errors | layout
"""
