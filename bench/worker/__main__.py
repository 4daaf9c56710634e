"""`python -m bench.worker`: the isolated worker process (see bench/worker/main.py)."""
from bench.worker.main import main

if __name__ == "__main__":
    main()
