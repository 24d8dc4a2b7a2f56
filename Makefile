# SPDX-License-Identifier: MIT
# The two commands of the README. Everything else is CMake.
#   make demo   builds ferry and ferry-demo and runs `ferry demo`
#   make test   installs missing test dependencies (as root), builds, and
#               runs the whole suite, then again under ASan+UBSan
BUILD ?= build
BUILD_ASAN ?= build-asan
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: demo test deps deps-build build build-asan clean

demo: deps-build
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS) --target ferry_cli ferry_demo
	./$(BUILD)/ferry demo

test: deps build build-asan
	cd $(BUILD) && ctest --output-on-failure --timeout 900
	cd $(BUILD_ASAN) && ctest --output-on-failure --timeout 900
	@left=$$(ls /dev/shm | grep -E '^ferry\.(t|test)-' || true); \
	  if [ -n "$$left" ]; then echo "regions left behind: $$left"; exit 1; fi

deps:
	./scripts/install-deps.sh test

deps-build:
	./scripts/install-deps.sh build

build:
	cmake -S . -B $(BUILD) -DFERRY_BUILD_FUZZ=ON $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)

build-asan:
	cmake -S . -B $(BUILD_ASAN) -DFERRY_SANITIZE=ON -DFERRY_BUILD_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug $(CMAKE_FLAGS)
	cmake --build $(BUILD_ASAN) -j $(JOBS)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)
