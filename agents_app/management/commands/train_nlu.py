from collections import Counter
from pathlib import Path

from django.core.management.base import BaseCommand

from agents_app.nlu import (
    TrainedIntentClassifier,
    cross_validated_accuracy,
    model_path,
    training_examples,
)


class Command(BaseCommand):
    help = "Train the NLU intent classifier from agents_app/nlu_data/ and save it."

    def add_arguments(self, parser):
        parser.add_argument("--output", type=Path, help="where to write it (NLU_MODEL_PATH)")
        parser.add_argument(
            "--cv", action="store_true", help="also report 5-fold cross-validated accuracy"
        )

    def handle(self, *args, output: Path | None, cv: bool, **options):
        path = output or model_path()
        examples = training_examples()
        counts = Counter(intent for _, intent in examples)
        self.stdout.write(f"{len(examples)} examples, {len(counts)} intents:")
        for intent, count in sorted(counts.items()):
            self.stdout.write(f"  {intent:<24} {count}")
        if cv:
            accuracy = cross_validated_accuracy(examples)
            self.stdout.write(f"5-fold cross-validated accuracy: {accuracy:.3f}")
        TrainedIntentClassifier.train(examples).save(path)
        self.stdout.write(self.style.SUCCESS(f"Wrote {path}"))
