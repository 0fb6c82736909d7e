.PHONY: test demo build release image image-containerfile bench bench-agent simulate fuzz clean

# Installs dependencies (apt, PyPI), builds and runs every test.
test:
	scripts/test.sh

# Runs the local demo.
demo:
	scripts/demo.sh

build:
	swift build

# libFuzzer targets for every parser of network or operator input (Fuzz/, its own package,
# AddressSanitizer, .build-fuzz), each for FUZZ_SECONDS (default 60):
# make fuzz FUZZ_SECONDS=600 FUZZ_TARGETS="admission manifest"
fuzz:
	scripts/fuzz.sh

release:
	swift build -c release --product peerpull

VERSION := $(shell sed -n 's/.*current = "\(.*\)".*/\1/p' Sources/OCI/Version.swift)
IMAGE ?= peerpull:$(VERSION)
IMAGE_LAYOUT ?= .build-image

# Builds the container image offline, from what this machine has: the release binary, the
# shared libraries it loads and the CA roots, as an OCI layout (scripts/build-image.sh);
# push it with skopeo. `make image-containerfile` builds the Containerfile instead, where
# podman, buildah or a Docker daemon can reach a base image: both hold the same files.
image:
	swift build -c release --static-swift-stdlib --scratch-path .build-release --product peerpull
	scripts/build-image.sh peerpull .build-release/release/peerpull $(IMAGE_LAYOUT) $(VERSION)
	@echo "image $(IMAGE_LAYOUT):$(VERSION): $$(du -sb $(IMAGE_LAYOUT)/blobs | cut -f1) bytes of blobs;" \
	  "push: skopeo copy oci:$(IMAGE_LAYOUT):$(VERSION) docker://REGISTRY/peerpull/peerpull:$(VERSION)"

image-containerfile:
	@if command -v podman >/dev/null; then podman build -f Containerfile -t $(IMAGE) .; \
	elif command -v buildah >/dev/null; then buildah bud -f Containerfile -t $(IMAGE) .; \
	elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then docker build -f Containerfile -t $(IMAGE) .; \
	else echo "make image-containerfile: no container builder here (podman, buildah, or docker with a running daemon); make image needs none" >&2; exit 2; fi

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
	rm -rf .build .build-release .build-image .build-fuzz
