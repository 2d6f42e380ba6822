"""Container networking, host side.

- :mod:`.modes`: what HostConfig asks (``bridge``/``default``, ``none``,
  ``host``, ``container:NAME``; published ports), checked at create.
- :mod:`.manager`: the runtime's view: the default bridge, a container's
  endpoint (lease, veth, namespace, published ports), reconciling after a
  restart. Runs in the gRPC server but never forks there.
- :mod:`.state`: the persisted bridge and endpoints (leases) under a file lock.
- :mod:`.helper` / :mod:`.helperclient`: the network helper, a warm fork
  server that does the netlink, namespace and firewall work
  (:mod:`.plumbing` with pyroute2, :mod:`.firewall` with iptables-restore).
- :mod:`.etc_files`: a container's hostname, hosts and resolv.conf.

The network namespace of a bridge container is made by the helper before
the container exists and bind-mounted at ``<run_dir>/netns/<id>``; the spec
names that path and barque-oci joins it, as CNI plugins and podman do. So
the network is complete before the container's first instruction, a
failure (a host port taken, a netlink error) happens before any container
process exists, and ``--network container:`` joins by path. ``--network
none`` keeps the namespace barque-oci makes from the spec, with only
loopback up: no helper call on that path.
"""
