"""Errors the engine raises for bad input; each carries a stable code and says what to fix."""


class PruningError(Exception):
    """Base class: `code` is stable and machine-readable, the message is for the user."""

    code = "pruning_error"


class TaskError(PruningError):
    """The task or its data is malformed: unknown task, missing column, empty file, bad labels."""

    code = "invalid_dataset"


class ModelError(PruningError):
    """The model cannot be loaded or pruned: no safetensors weights, no layer list, unknown architecture."""

    code = "invalid_model"


class ConfigError(PruningError):
    """A hyperparameter or the retention threshold is out of range."""

    code = "invalid_request"
