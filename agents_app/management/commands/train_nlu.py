import os
import time
from collections import Counter
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from agents_app.nlu import (
    TrainedIntentClassifier,
    banking77_routes,
    cross_validated_accuracy,
    model_path,
    training_examples,
)


class Command(BaseCommand):
    help = "Train the NLU intent classifier from agents_app/nlu_data/ and save it."

    def add_arguments(self, parser):
        parser.add_argument("--output", type=Path, help="where to write it (NLU_MODEL_PATH)")
        parser.add_argument(
            "--cv",
            action="store_true",
            help="also report 5-fold cross-validated accuracy over all labels (for BANKING77 "
            "alone: `eval_nlu --cv 5 --data agents_app/nlu_data/banking77_train.csv`)",
        )

    def handle(self, *args, output: Path | None, cv: bool, **options):
        path = output or model_path()
        # Before half a minute of training, not after it (the folder is made if need be).
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from exc
        if not os.access(path.parent, os.W_OK):
            raise CommandError(f"cannot write {path}: {path.parent} is read-only")
        examples = training_examples()
        counts = Counter(label for _, label in examples)
        categories = sum(label in banking77_routes() for label in counts)
        self.stdout.write(
            f"{len(examples)} examples, {len(counts)} labels "
            f"({categories} BANKING77 categories, {len(counts) - categories} of our intents)"
        )
        if options["verbosity"] > 1:
            for label, count in sorted(counts.items()):
                self.stdout.write(f"  {label:<50} {count}")
        if cv:
            accuracy = cross_validated_accuracy(examples)
            self.stdout.write(f"5-fold cross-validated accuracy: {accuracy:.3f}")
        started = time.perf_counter()
        classifier = TrainedIntentClassifier.train(examples)
        self.stdout.write(f"trained in {time.perf_counter() - started:.0f} s")
        try:
            classifier.save(path)
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from exc
        self.stdout.write(self.style.SUCCESS(f"Wrote {path}"))
