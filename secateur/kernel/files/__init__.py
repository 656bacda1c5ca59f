"""Model archives and safetensors checks, shared by uploads and the worker."""
