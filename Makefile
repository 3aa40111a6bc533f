# Loupe: the two commands a newcomer needs.
#   make demo   builds Loupe (release) and writes ./loupe-demo/
#   make test   builds and runs every test
# Each first installs the missing system libraries (Tools/install-deps.sh).

SWIFT ?= swift

.PHONY: demo test deps bench compare breakdown fixtures fuzz clean

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
