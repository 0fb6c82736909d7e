.PHONY: test demo build release clean

# Installs dependencies (apt), builds and runs every test.
test:
	scripts/test.sh

# Runs the local demo.
demo:
	scripts/demo.sh

build:
	swift build

release:
	swift build -c release --product peerpull

clean:
	rm -rf .build
