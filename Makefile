# Loupe: the two commands a newcomer needs.
#   make demo   builds Loupe (release) and writes ./loupe-demo/
#   make test   builds and runs every test
# Each first installs the missing system libraries (Tools/install-deps.sh).

SWIFT ?= swift

.PHONY: demo test test-isa deps bench compare breakdown fixtures fuzz clean

deps:
	@sh Tools/install-deps.sh

demo: deps
	$(SWIFT) build -c release --product loupe
	.build/release/loupe demo

# Tests run on a release build: the model-zoo tests push whole networks through the engine.
test:
	@sh Tools/install-deps.sh test
	$(SWIFT) build -c release --build-tests
	$(SWIFT) test -c release

# The whole suite again under each of oneDNN's smaller instruction sets, as on hosts without
# AVX-512 (oneDNN reads ONEDNN_MAX_CPU_ISA once per process); `make test` runs a subset so
# (InstructionSetTests). x86 only: elsewhere oneDNN has no such cap.
test-isa:
	@sh Tools/install-deps.sh test
	$(SWIFT) build -c release --build-tests
	@case "$$(uname -m)" in x86_64|amd64) ;; *) echo "test-isa: skipped, ONEDNN_MAX_CPU_ISA caps x86 instruction sets only"; exit 0;; esac; \
	failed=""; for isa in AVX2 AVX SSE41; do \
		echo "== ONEDNN_MAX_CPU_ISA=$$isa"; ONEDNN_MAX_CPU_ISA=$$isa $(SWIFT) test -c release --skip-build --skip InstructionSetTests || failed="$$failed $$isa"; \
	done; \
	if [ -n "$$failed" ]; then echo "test-isa: the suite failed under$$failed"; exit 1; fi

# Op throughput against oneDNN alone and PyTorch (needs pip install torch); see BENCHMARKS.md.
bench: deps
	$(SWIFT) build -c release --product loupe-bench
	python3 Tools/bench/ops.py

# Loupe against PyTorch + Captum and onnxruntime on the same machine, written to BENCHMARKS.md
# (needs pip install torch torchvision captum onnx onnxruntime safetensors; about 20 minutes).
compare: deps
	$(SWIFT) build -c release --product loupe
	python3 Tools/bench/compare.py

# Where Loupe's time goes on each row of that table that misses its target (oneDNN's time per
# primitive, perf's CPU samples where perf is installed), written to BENCHMARKS.md; about 7 minutes.
breakdown: deps
	$(SWIFT) build -c release --product loupe
	python3 Tools/bench/breakdown.py

# Fuzz every file reader with libFuzzer and AddressSanitizer, FUZZ_SECONDS each (see Fuzz/run.sh).
FUZZ_SECONDS ?= 60
fuzz: deps
	sh Fuzz/run.sh $(FUZZ_SECONDS)

# Regenerate the reference fixtures and the colormap tables (needs: pip install torch torchvision captum matplotlib).
fixtures:
	python3 Tools/fixtures/make_fixtures.py
	python3 Tools/render/make_render_data.py

clean:
	rm -rf .build loupe-demo
