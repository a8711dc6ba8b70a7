"""Training: strategy creation, fit-loop glue, callbacks."""
