"""The kmock emulator (`kube`), a Node to publish on (`node`), and scripted API faults (`faults`)."""

from tests.cluster.emulated import faults as faults
from tests.cluster.emulated import node as node
from tests.kube import kube as kube
