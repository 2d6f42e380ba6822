"""The runtime's engine, around :mod:`services.runtime.core`: the container
store (:mod:`.containers`), exec sessions (:mod:`.execs`), logs, events,
filters, inspect and info documents, the overlay root (:mod:`.mounts`) and
the image-store client (:mod:`.remote`). No ``grpc`` import except the client
in :mod:`.remote`; the spec a container runs with is built in
:mod:`services.runtime.spec`.
"""
