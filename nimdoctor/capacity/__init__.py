"""Fleet capacity: how many more replicas of a model fit, on which nodes, and what each fix would add.

Pure computation (`compute`) over node reports and the devices pods hold; `sources` reads them from files or,
lazily through the official client, from a live cluster. See docs/capacity.md.
"""

from nimdoctor.capacity.compute import FIXES, Fleet, NodeInput, capacity, exit_code
from nimdoctor.capacity.document import Capacity, CapacityNode, Unlock

__all__ = ["FIXES", "Capacity", "CapacityNode", "Fleet", "NodeInput", "Unlock", "capacity", "exit_code"]
