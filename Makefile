.PHONY: test demo build release image bench bench-agent simulate clean

# Installs dependencies (apt, PyPI), builds and runs every test.
test:
	scripts/test.sh

# Runs the local demo.
demo:
	scripts/demo.sh

build:
	swift build

release:
	swift build -c release --product peerpull

IMAGE ?= peerpull:$(shell sed -n 's/.*current = "\(.*\)".*/\1/p' Sources/OCI/Version.swift)

# Builds the container image with whichever builder this machine has.
image:
	@if command -v podman >/dev/null; then podman build -f Containerfile -t $(IMAGE) .; \
	elif command -v buildah >/dev/null; then buildah bud -f Containerfile -t $(IMAGE) .; \
	elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then docker build -f Containerfile -t $(IMAGE) .; \
	else echo "make image: no container builder here (podman, buildah, or docker with a running daemon)" >&2; exit 2; fi

# The cold-rollout benchmark: N = 4, 8, 16 nodes pull a new image at once, directly from the
# origin, through PeerPull, and with BitTorrent (release build; not a test). Make variables
# pass through: make bench NODES="4 8" RUNS=3 SKIP_BT=1
bench:
	NODES="$${NODES:-4 8 16}" bench/swarm-rollout.sh

# The simulator's scaling table: 100 to 10,000 nodes with the swarm's own scheduler and
# coordinator on simulated links, and the measured configuration to check it against.
simulate:
	bench/simulate.sh

# The single-node 1 GiB pull benchmark (agent against direct, cold and warm).
bench-agent:
	bench/agent-pull.sh

clean:
	rm -rf .build .build-release
