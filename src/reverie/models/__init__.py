"""The models, one class per task, loaded lazily and shared by every worker thread of a process.

Runtimes stay inside their classes (ONNX Runtime everywhere; torch only in `export`, in a child process).
"""

from __future__ import annotations

import threading
from pathlib import Path

from ..config import Settings
from .detector import ObjectDetector
from .export import (CLASSIFIER, DETAILS, DETECTOR, TEXT_DETECTOR, TEXT_ENCODER, TEXT_GATE, TEXT_RECOGNISER, TOKENIZER,
                     ensure_exported)
from .ocr import TextReader
from .process import share_the_machine
from .text_embedding import TextEmbedder
from .visual import VisualEmbedder


class Models:
    def __init__(self, settings: Settings):
        share_the_machine()  # large buffers given back when freed, numpy's BLAS on one core (models/process.py)
        self.settings = settings
        self.cache: Path = settings.model_dir
        self._lock = threading.Lock()
        self._visual: VisualEmbedder | None = None
        self._text: TextEmbedder | None = None
        self._ocr: TextReader | None = None
        self._detector: ObjectDetector | None = None
        self._classifier = None
        self._detail_features = None
        self._animal_check = None
        self._faces = None
        self._speech = None
        self._sentences = None

    @property
    def text(self) -> TextEmbedder:
        """Sentence embeddings (MiniLM): transcript segments and the queries that look for them."""
        with self._lock:
            return self._text_embedder()

    @property
    def sentences(self):  # noqa: ANN201  (SentenceEmbedder)
        """Transcript segments and BY_AUDIO queries in any language, in MiniLM's space."""
        with self._lock:
            return self._sentence_embedder()

    def _sentence_embedder(self):  # noqa: ANN202
        if self._sentences is None:
            from .language_map import LanguageMap
            from .mpnet import EnglishReader, MpnetMap
            from .multilingual import QueryLanguages
            from .sentences import SentenceEmbedder

            languages = QueryLanguages(self.cache)  # the cache is exported by _text_embedder
            english = EnglishReader(self.cache, MpnetMap.load())
            self._sentences = SentenceEmbedder(self._text_embedder(), languages, LanguageMap.load(), english)
        return self._sentences

    @property
    def speech(self):  # noqa: ANN201  (SpeechRecognizer; imported late: faster-whisper is heavy)
        with self._lock:
            if self._speech is None:
                from .speech import SpeechRecognizer

                # CTranslate2 parallelises one transcription well; the indexing thread count does not.
                self._speech = SpeechRecognizer(self.cache, self.settings.speech, max(2, self.settings.model_threads))
            return self._speech

    def _text_embedder(self) -> TextEmbedder:
        if self._text is None:
            ensure_exported(self.cache)
            self._text = TextEmbedder(self.cache / TEXT_ENCODER, self.cache / TOKENIZER, self.settings.model_threads)
        return self._text

    @property
    def visual(self) -> VisualEmbedder:
        with self._lock:
            if self._visual is None:
                if self.settings.visual_model == "clip":
                    from .clip import ClipEmbedder

                    self._visual = ClipEmbedder(Path(self.settings.clip_path), self.settings.model_threads)
                else:
                    self._visual = self._conse(with_bridge=True)
            return self._visual

    @property
    def visual_name(self) -> str:
        """What the visual model's vectors are stored under, without loading its networks (a server's start
        asks, to tell what an older model embedded)."""
        if self.settings.visual_model == "clip":
            from .clip import clip_name

            return clip_name(Path(self.settings.clip_path))
        from .bridge import Bridge
        from .visual import conse_name

        return conse_name(Bridge.load())

    def _image_classifier(self):  # noqa: ANN202  (ImageClassifier: one session for ConSE and the animal check)
        if self._classifier is None:
            from .classifier import ImageClassifier

            ensure_exported(self.cache)
            self._classifier = ImageClassifier(self.cache / CLASSIFIER, self.settings.model_threads)
        return self._classifier

    def _conse(self, with_bridge: bool):  # noqa: ANN202
        from .bridge import Bridge
        from .visual import ConseEmbedder

        classifier = self._image_classifier()
        if not with_bridge:
            return ConseEmbedder(classifier, self._text_embedder(), self.cache, details=self._details())
        return ConseEmbedder(classifier, self._text_embedder(), self.cache, Bridge.load(), self._sentence_embedder(),
                             self._object_detector(), self._details())

    def _details(self):  # noqa: ANN202  (DetailFeatures: Lite2, which the bridge reads)
        if self._detail_features is None:
            from .details import DetailFeatures

            ensure_exported(self.cache)
            self._detail_features = DetailFeatures(self.cache / DETAILS, self.settings.model_threads)
        return self._detail_features

    def without_bridge(self):  # noqa: ANN201
        """ConSE alone: what the bridge is trained beside (`reverie models train-bridge`)."""
        with self._lock:
            return self._conse(with_bridge=False)

    @property
    def detector(self) -> ObjectDetector:
        """COCO's 80 kinds of object, boxed (SSD-MobileNet-v2), and the scene the bridge reads."""
        with self._lock:
            return self._object_detector()

    def _object_detector(self) -> ObjectDetector:
        if self._detector is None:
            ensure_exported(self.cache)
            self._detector = ObjectDetector(self.cache / DETECTOR, self.settings.model_threads)
        return self._detector

    @property
    def animal_check(self):  # noqa: ANN201  (AnimalCheck)
        """Whether the ImageNet classifier agrees with the detector's animals (models/animal_check.py)."""
        with self._lock:
            if self._animal_check is None:
                from .animal_check import AnimalCheck

                self._animal_check = AnimalCheck(self._image_classifier())
            return self._animal_check

    @property
    def faces(self):  # noqa: ANN201  (FaceFinder; imported late: dlib loads ~30 MB of weights)
        """Frontal faces, aligned and embedded (dlib)."""
        with self._lock:
            if self._faces is None:
                from .faces import FaceFinder

                self._faces = FaceFinder()
            return self._faces

    @property
    def ocr(self) -> TextReader:
        with self._lock:
            if self._ocr is None:
                ensure_exported(self.cache)
                self._ocr = TextReader(self.cache / TEXT_DETECTOR, self.cache / TEXT_RECOGNISER,
                                       self.cache / TEXT_GATE, self.settings.model_threads)
            return self._ocr
