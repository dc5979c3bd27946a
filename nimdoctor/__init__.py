"""nimdoctor: checks that a Kubernetes GPU node can serve NVIDIA NIM models, and says the fix."""

__version__ = "0.1.0"
API_VERSION = "nimdoctor.io/v1alpha1"
