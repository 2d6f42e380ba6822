"""barque's client library: what every caller of the services uses.

The CLI, ``deploy/``, the tests, ``bench/`` and the services themselves when
they call one another (runtime to image-store, image-store to
registry-proxy) reach the contracts through this package:

- :mod:`.channels`: a channel per service at the address the config names
  (a unix socket plain, tcp only over mutual TLS), a request id in the
  metadata of every call, unary and streaming, and :class:`~.channels.RemoteStub`,
  which raises the taxonomy's errors instead of ``grpc.RpcError``;
- :mod:`.config`: the configuration file and its environment overrides;
- :mod:`.errors` and :mod:`.grpcerrors`: the one error taxonomy, and its
  mapping to gRPC status codes and back (the servers map with the same module);
- the vocabulary both sides share: image references (:mod:`.reference`), OCI
  image-spec types (:mod:`.imagespec`), Docker's unit parsers (:mod:`.units`),
  conversions to the contracts' messages (:mod:`.protoconv`) and the build
  and API version (:mod:`.version`).

Nothing here imports a service, and this file imports nothing, so a command
loads only the modules it uses.
"""

__all__ = ["channels", "config", "errors", "grpcerrors", "imagespec", "metadata", "protoconv",
           "reference", "units", "version"]
