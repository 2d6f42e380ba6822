"""What every test tier and bench/ share, written once: real parts the tests
start (a distribution registry, barque's services, barque-oci bundles), images
built by other tools, and the probes of the host's state (mounts, cgroups,
processes, network devices) with the leak check built on them."""
