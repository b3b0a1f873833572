"""The paper's scale on one GPU machine in one or two ten-minute commands (``make gpu-check``, ``make gpu-run``,
``make gpu-unpack``): an application of the library, beside the book, in three modules --

* :mod:`faiglib.gpu.plan`: the cost model (FLOPs per stage, the dry run on this CPU, the preflight on the device);
* :mod:`faiglib.gpu.pack`: the store packed into parts with a manifest of digests, verified before unpacking;
* :mod:`faiglib.gpu.run`: the run with its clock, and the command line (``python -m faiglib.gpu.run``).
"""
