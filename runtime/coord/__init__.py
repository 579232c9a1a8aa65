"""coord: coordination between parallel coding sessions over git and an ssh hub.

The package is split in layers whose imports point down only:

1. ``config``: who this Yoda is and where its state clone and hub are;
2. ``gitrepo`` and ``hub``: the two transports, one wrapper each;
3. ``claims``, ``scan``, ``state``, ``pokes``, ``presence``, ``rollcall``: the domain;
4. ``cli``: one thin parser per command.

It imports nothing outside the standard library and runs on Python 3.9 and newer.
"""

__version__ = "0.1.0"
