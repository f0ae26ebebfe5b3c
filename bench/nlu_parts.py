"""Where an intent prediction's time goes, part by part, on one thread.

    taskset -c 1 .venv/bin/python -m bench.nlu_parts [--model var/nlu-model.skops]

Prints, in milliseconds of thread CPU: the sentence encoder for messages of 8 to 48 tokens,
and over BANKING77's training questions the TF-IDF model, the nearest-neighbour vote and a
whole prediction (p50 / p99). `eval_nlu` gives the end-to-end figures on unseen messages;
this says which part to work on when they move (docs/nlu.md).
"""

import argparse
import os
import time
from pathlib import Path

import numpy as np


def _cpu_ms(call, repeat: int) -> list[float]:
    call()  # warm up
    timings = []
    for _ in range(repeat):
        started = time.thread_time()
        call()
        timings.append((time.thread_time() - started) * 1000)
    return timings


def _cpu_ms_each(call, items: list) -> list[float]:
    timings = []
    for item in items:
        started = time.thread_time()
        call(item)
        timings.append((time.thread_time() - started) * 1000)
    return timings


def _line(name: str, timings: list[float]) -> str:
    p50, p99 = np.percentile(timings, [50, 99])
    return f"{name:<40} p50 {p50:6.2f}   p99 {p99:6.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="var/nlu-model.skops", type=Path)
    parser.add_argument("--messages", default=1000, type=int)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbackend.settings")
    import django

    django.setup()
    from threadpoolctl import threadpool_limits

    from agents_app.nlu import TrainedIntentClassifier, banking77_examples

    classifier = TrainedIntentClassifier.load(args.model)
    encoder = classifier.encoder
    texts = [text for text, _ in banking77_examples()]
    texts = texts[:: max(1, len(texts) // args.messages)][: args.messages]
    with threadpool_limits(limits=1):
        print("sentence encoder, one message (ms CPU):")
        for words in (6, 14, 30, 46):
            text = " ".join(["card"] * words)  # one token a word, plus [CLS] and [SEP]
            print(_line(f"  {words + 2} tokens", _cpu_ms(lambda t=text: encoder.encode(t), 300)))
        vectors = {text: encoder.encode(text) for text in texts}
        print(f"over {len(texts)} BANKING77 training questions (ms CPU):")
        parts = {
            "  TF-IDF model": lambda t: classifier._tfidf_scores(t),
            "  sentence encoder": lambda t: encoder.encode(t),
            "  nearest-neighbour vote": lambda t: classifier.neighbour_vote(vectors[t]),
            "  whole prediction": lambda t: classifier.predict(t),
        }
        for name, part in parts.items():
            print(_line(name, _cpu_ms_each(part, texts)))


if __name__ == "__main__":
    main()
