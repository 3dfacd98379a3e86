"""Rehearse the Flask + uWSGI + nginx tutorial on a guest and report, step by step, whether it holds."""
