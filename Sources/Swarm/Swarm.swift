// Swarm: pieces and piece hashes, the peer protocol, peer discovery and the download
// scheduler (many peers at once, origin fallback and racing). Built by the swarm issue;
// the module exists now so that the package layout is the one the architecture names.
import OCI
