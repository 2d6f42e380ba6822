"""Container networking, host side: what a container sees of the network.

Today every container runs with ``--network none`` (a fresh network
namespace with only loopback, made by barque-oci from the spec's
``linux.namespaces``), and this package writes its name-resolution files
(:mod:`.etc_files`). Bridges, veths, IPAM and published ports (pyroute2,
always in a helper process, never in the gRPC server) belong here too.
"""
