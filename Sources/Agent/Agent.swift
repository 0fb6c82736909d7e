// Agent: the registry front end on :65001, the verified disk cache with quota and
// eviction, the shared rate limiter and the authorization gate. Built by the agent
// issue on OCI's RegistryClient (pass-through auth), ByteRange and DigestVerifier.
import OCI
