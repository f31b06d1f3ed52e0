"""Clustering texts into themes (``themes`` collects the texts, caches and shows the result).

* **Vectors.** ``THEME_EMBEDDER``, a callable ``(texts) -> 2-D array-like`` (one row per text),
  sees the texts of both windows at once. The built-in (None), ``tfidf_embedder``: TF-IDF over
  at most ``MAX_TERMS`` words (English stop words left out; binary term frequencies times the
  square root of the idf, so that words many comments share weigh more), a sparse matrix: no
  model to download.
* **Themes.** Rows are normalised (cosine) and clustered by k-means for every number of themes
  from 2 to ``MAX_THEMES`` on a sample of ``SEARCH_SAMPLE`` texts; the number kept is the
  smallest whose silhouette (cosine, on ``SILHOUETTE_SAMPLE`` texts) is within
  ``SILHOUETTE_TOLERANCE`` of the best (finer splits of one theme score about as well). All the
  texts are then clustered by MiniBatchKMeans from the sample's centroids. The previous
  window's texts are assigned to the nearest theme centroid. Labels come from word counts
  (whatever the embedder): the terms whose share of the theme's texts most exceeds their share
  of the window's. Representative comments: the three nearest the centroid (no repeats).
* **Trend.** "up" when the count grew by at least ``TREND_MIN_CHANGE`` and by a fifth of the
  previous count, "down" for the same fall, "flat" otherwise.

Clustering needs scikit-learn (``pip install "django-feedback-loop[themes]"``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from feedback_loop.conf import app_settings

MAX_TERMS = 20_000
MAX_THEMES = 8
MIN_TEXTS = 6
SEARCH_SAMPLE = 5_000
SILHOUETTE_SAMPLE = 2_000
SILHOUETTE_TOLERANCE = 0.03
REPRESENTATIVES = 3
LABEL_TERMS = 3
TREND_MIN_CHANGE = 3


def available() -> bool:
    """Whether scikit-learn, which the clustering needs, is installed."""
    try:
        return importlib.util.find_spec("sklearn") is not None
    except (ImportError, ValueError):
        return False


# -- the clustering ------------------------------------------------------------------------


def _count_vectorizer(texts: Sequence[str]):
    from sklearn.feature_extraction.text import CountVectorizer

    vectorizer = CountVectorizer(
        stop_words="english",
        token_pattern=r"(?u)\b[^\W\d_]{2,}\b",
        binary=True,
        max_features=MAX_TERMS,
        min_df=2 if len(texts) >= 20 else 1,
        max_df=0.5 if len(texts) >= 50 else 1.0,
        dtype=_float32(),
    )
    try:
        counts = vectorizer.fit_transform(texts)
    except ValueError:  # no term left: only stop words, or nothing
        return None, []
    return counts, list(vectorizer.get_feature_names_out())


def _float32():
    import numpy

    return numpy.float32


def _tfidf(counts):
    """Binary term frequencies times the square root of the smoothed idf: themes are words
    many comments share, which a full idf would weigh below a word one comment has."""
    import numpy
    from scipy.sparse import diags

    n = counts.shape[0]
    df = numpy.bincount(counts.indices, minlength=counts.shape[1])
    idf = numpy.sqrt(numpy.log((1 + n) / (1 + df)) + 1).astype(numpy.float32)
    return (counts @ diags(idf)).tocsr()


def tfidf_embedder(texts: list[str]):
    """The built-in THEME_EMBEDDER: TF-IDF over at most MAX_TERMS words (scikit-learn's
    CountVectorizer, English stop words left out; binary term frequencies, the square root of
    the idf), a sparse matrix with one row per text."""
    counts, _terms = _count_vectorizer(texts)
    if counts is None:
        from scipy.sparse import csr_matrix

        return csr_matrix((len(texts), 1), dtype=_float32())
    return _tfidf(counts)


@dataclass
class Theme:
    label: str
    terms: list[str]
    members: list[int]  # indexes of the window's texts
    previous: list[int]  # indexes of the previous window's texts
    representatives: list[int]  # indexes, nearest the centroid first

    @property
    def count(self) -> int:
        return len(self.members)

    @property
    def previous_count(self) -> int:
        return len(self.previous)

    @property
    def trend(self) -> str:
        return trend(self.count, self.previous_count)


def trend(count: int, previous: int) -> str:
    change = count - previous
    if abs(change) >= TREND_MIN_CHANGE and abs(change) * 5 >= previous:
        return "up" if change > 0 else "down"
    return "flat"


def find_themes(
    texts: Sequence[str],
    previous: Sequence[str] = (),
    embedder: Callable[[list[str]], Any] | None = None,
    *,
    max_themes: int = MAX_THEMES,
    seed: int = 0,
) -> list[Theme]:
    """Themes of ``texts``, most frequent first, with ``previous`` assigned to them (see the
    module's docstring). ``embedder`` None: THEME_EMBEDDER. Fewer than MIN_TEXTS texts: none."""
    import numpy
    from sklearn.preprocessing import normalize

    n = len(texts)
    if n < MIN_TEXTS:
        return []
    everything = [*texts, *previous]
    embedder = embedder or app_settings.THEME_EMBEDDER or tfidf_embedder
    counts, terms = _count_vectorizer(everything)
    if embedder is tfidf_embedder:
        if counts is None:
            return []
        vectors = _tfidf(counts)
    else:
        vectors = embedder(list(everything))
        if not hasattr(vectors, "tocsr"):
            vectors = numpy.asarray(vectors, dtype=numpy.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(everything):
            raise ValueError(
                f"THEME_EMBEDDER returned an array of shape {vectors.shape} for "
                f"{len(everything)} texts; it must have one row per text."
            )
    vectors = normalize(vectors)
    current, before = vectors[:n], vectors[n:]
    labels, centroids = _cluster(current, max_themes, seed)
    if centroids is None:
        return []
    similarity = _dense(current @ centroids.T)
    nearest_before = (
        numpy.asarray(_dense(before @ centroids.T)).argmax(axis=1)
        if before.shape[0]
        else numpy.zeros(0, dtype=int)
    )
    themes = []
    for k in range(centroids.shape[0]):
        members = numpy.flatnonzero(labels == k)
        if not len(members):
            continue
        closest = members[numpy.argsort(-similarity[members, k], kind="stable")]
        representatives: list[int] = []
        seen: set[str] = set()
        for i in closest:
            key = " ".join(texts[i].casefold().split())
            if key not in seen:
                seen.add(key)
                representatives.append(int(i))
            if len(representatives) == REPRESENTATIVES:
                break
        words = _label_terms(counts, terms, members, n)
        themes.append(
            Theme(
                label=", ".join(words) or texts[closest[0]][:40],
                terms=words,
                members=[int(i) for i in members],
                previous=[int(i) for i in numpy.flatnonzero(nearest_before == k)],
                representatives=representatives,
            )
        )
    themes.sort(key=lambda t: (-t.count, t.label))
    return themes


def _dense(matrix):
    import numpy

    return numpy.asarray(matrix.toarray() if hasattr(matrix, "toarray") else matrix)


def _cluster(vectors, max_themes: int, seed: int):
    """(label per row, normalised centroids): k-means for every number of clusters from 2 to
    ``max_themes`` on a sample of SEARCH_SAMPLE rows, keeping the fewest clusters whose
    silhouette is within SILHOUETTE_TOLERANCE of the best (finer splits of one theme score
    about as well as the theme); then all rows, from the sample's centroids."""
    import numpy
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from sklearn.metrics import silhouette_score
    from sklearn.preprocessing import normalize

    n = vectors.shape[0]
    rng = numpy.random.default_rng(seed)
    search = vectors
    if n > SEARCH_SAMPLE:
        search = vectors[numpy.sort(rng.choice(n, SEARCH_SAMPLE, replace=False))]
    m = search.shape[0]
    distinct = _distinct_rows(search, limit=max_themes + 1)
    if distinct < 2:
        labels = numpy.zeros(n, dtype=int)
        return labels, normalize(_centroids(vectors, labels, 1))
    fits = {}
    for k in range(2, min(max_themes, distinct, m - 1) + 1):
        model = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(search)
        if len(set(model.labels_)) < 2:
            continue
        score = silhouette_score(
            search,
            model.labels_,
            metric="cosine",
            sample_size=min(m, SILHOUETTE_SAMPLE),
            random_state=seed,
        )
        fits[k] = (float(score), model)
    if not fits:
        labels = numpy.zeros(n, dtype=int)
        return labels, normalize(_centroids(vectors, labels, 1))
    best = max(score for score, _model in fits.values())
    k = min(k for k, (score, _model) in fits.items() if score >= best - SILHOUETTE_TOLERANCE)
    model = fits[k][1]
    if n == m:
        labels = model.labels_
    else:
        centers = _dense(model.cluster_centers_)
        labels = (
            MiniBatchKMeans(
                n_clusters=k,
                init=centers,
                n_init=1,
                random_state=seed,
                batch_size=4096,
                max_no_improvement=5,
            )
            .fit(vectors)
            .labels_
        )
    return labels, normalize(_centroids(vectors, labels, k))


def _centroids(vectors, labels, k: int):
    """The mean row of each cluster (dense, k x features)."""
    import numpy
    from scipy.sparse import csr_matrix

    n = vectors.shape[0]
    onehot = csr_matrix(
        (numpy.ones(n, dtype=numpy.float32), (labels, numpy.arange(n))), shape=(k, n)
    )
    sizes = numpy.maximum(numpy.asarray(onehot.sum(axis=1)).ravel(), 1)
    sums = _dense(onehot @ vectors)
    return sums / sizes[:, None]


def _distinct_rows(vectors, limit: int) -> int:
    """How many distinct rows ``vectors`` has, counting up to ``limit``."""
    import numpy

    dense = _dense(vectors[: min(vectors.shape[0], 5000)])
    seen = set()
    for row in numpy.round(dense, 5):
        seen.add(row.tobytes())
        if len(seen) >= limit:
            break
    return len(seen)


def _label_terms(counts, terms: list[str], members, n: int) -> list[str]:
    """The terms whose share of the theme's texts most exceeds their share of the window's."""
    import numpy

    if counts is None or not terms:
        return []
    window = counts[:n]
    present = window.copy()
    present.data[:] = 1
    overall = numpy.asarray(present.sum(axis=0)).ravel() / n
    inside = numpy.asarray(present[members].sum(axis=0)).ravel() / len(members)
    score = inside - overall + inside / 1000  # ties (one theme only): the commoner term
    order = numpy.argsort(-score, kind="stable")[:LABEL_TERMS]
    return [terms[i] for i in order if inside[i] > 0]
