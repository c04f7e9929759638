# Thin wrapper around CMake: `make` builds everything into build/ (the CLI is build/radial).
#   make demo   build, then generate a short video with the tiny model on the CPU (demo.mp4)
#   make test   build, then run every test that needs no GPU (ctest -LE gpu)
# Both first check the Debian packages below and install the missing ones when run as root.
#   make install [PREFIX=/usr/local]   build, then radial.h, libradial.a/.so, radial.pc and the CLI under PREFIX

BUILD ?= build
JOBS ?= $(shell nproc)
PREFIX ?= /usr/local
CMAKE_FLAGS ?=
DEB_PACKAGES = cmake pkg-config gcc make libjansson-dev libpng-dev libavformat-dev libavcodec-dev \
               libavutil-dev libswscale-dev clang libclang-rt-14-dev ffmpeg

.PHONY: all deps build demo test test-gpu install sanitize fuzz clean

all: build

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:" $$missing; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	  else \
	    echo "missing Debian packages; run:"; echo "  sudo apt-get install -y $$missing"; exit 1; \
	  fi; \
	fi

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	$(BUILD)/radial generate --model tests/data/tiny-wan \
	  --prompt "a red panda drinking tea in a bamboo forest" \
	  --width 96 --height 64 --frames 9 --steps 10 --seed 42 -o demo.mp4

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE gpu

# include/ -> PREFIX/include, lib/ -> PREFIX/lib (libradial.a, libradial.so*, pkgconfig/radial.pc), bin/radial.
# examples/ builds against the result (pkg-config); see examples/README.md.
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

# On a machine with an NVIDIA GPU: the CUDA tests.
test-gpu: build
	cd $(BUILD) && ctest --output-on-failure -L gpu

# Parser tests under AddressSanitizer + UndefinedBehaviorSanitizer (CI runs this too).
sanitize: deps
	cmake -S . -B $(BUILD)-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DRADIAL_CUDA=OFF \
	  -DRADIAL_SANITIZE=ON >/dev/null
	cmake --build $(BUILD)-asan -j $(JOBS)
	cd $(BUILD)-asan && ctest --output-on-failure -j $(JOBS) -L parser

# libFuzzer harnesses, short smoke run of each (CI runs this too).
fuzz: deps
	cmake -S . -B $(BUILD)-fuzz -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DRADIAL_CUDA=OFF \
	  -DRADIAL_FUZZ=ON >/dev/null
	cmake --build $(BUILD)-fuzz -j $(JOBS)
	cd $(BUILD)-fuzz && ctest --output-on-failure -L fuzz

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-fuzz
