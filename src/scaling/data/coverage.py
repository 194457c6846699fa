"""Coverage of local environments: per-atom descriptors, an environment codebook, and a DIRECT-style sampler.

A training set helps a potential only as far as it reaches new local environments. Each atom is described by
element-resolved radial and angular fingerprints of its neighbourhood (computed from the graph store's neighbour
lists); k-means on the whole store gives a codebook of environment clusters (one codebook per centre element); a
subset's coverage is the fraction of the store's clusters that its atoms reach. The "coverage" sampler picks
structures DIRECT-style (Qi et al. 2024): structure features, PCA, k-means of structures, and stratified
round-robin picks across the structure clusters, as one seeded ordering whose prefixes are the nested subsets.

Descriptors are hand-written numpy rather than a library (dscribe, quippy) because none is installed here and the
store already holds the neighbour lists: the fingerprints are Gaussian radial sums and their l = 1, 2 angular power
spectra, a SOAP-like invariant in a few vectorised lines.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from scaling.atomic import atomic_write_bytes
from scaling.data.store import GraphStore, ranges
from scaling.errors import InputError

log = logging.getLogger(__name__)

CODEBOOK_VERSION = 1
_CHUNK_STRUCTURES = 2000


@dataclass(frozen=True)
class CodebookSettings:
    """How environments are described and clustered; the cache file is keyed by these."""

    n_clusters: int = 512  # total over centre elements
    seed: int = 0
    max_fit_atoms: int = 50_000  # per centre element, sampled with `seed` for the k-means fit
    n_radial: int = 6  # Gaussian radial functions per neighbour element
    cutoff: float | None = None  # A; None: the store's cutoff
    kmeans_iter: int = 20


@dataclass
class AtomDescriptors:
    """Per-atom fingerprints of a set of structures (row order: structure by structure, atom by atom)."""

    features: np.ndarray  # float64 [n_atoms, n_elements * n_radial * 3]
    z: np.ndarray  # int64 [n_atoms]
    structure: np.ndarray  # int64 [n_atoms], store index of each atom's structure


@dataclass(frozen=True)
class CoverageReport:
    """How much of the pool's environment codebook a subset reaches."""

    fraction: float  # reached clusters / clusters with pool atoms
    weighted_fraction: float  # pool atoms in reached clusters / pool atoms
    n_reached: int
    n_clusters: int


def _open(store) -> GraphStore:
    """`store` as a GraphStore (a path opens one): the store format has one reader."""
    return store if isinstance(store, GraphStore) else GraphStore(store)


def atom_descriptors(store, indices: Sequence[int] | None = None, n_radial: int = 6, cutoff: float | None = None):
    """Element-resolved radial (G) and angular (|sum g r|^2, |sum g (rr - I/3)|^2) fingerprints of every atom.

    For a centre atom i, neighbour element e and Gaussian g_k (centres evenly spaced in [0.5, cutoff] A, width the
    spacing, times a cosine cutoff): G = sum_j g_k(r_ij), and the squared norms of the l = 1 and l = 2 moments of the
    unit vectors, square-rooted so that all three grow linearly with neighbour count. Rotation and permutation
    invariant; [n_atoms, n_elements * n_radial * 3].
    """
    store = _open(store)
    cutoff = float(cutoff or store.manifest.get("cutoff", 5.0))
    elements = np.unique(np.asarray(store.array("z"))).astype(np.int64)
    indices = np.arange(len(store)) if indices is None else np.asarray(indices, dtype=np.int64)
    parts = [
        _descriptors_chunk(store, elements, indices[k : k + _CHUNK_STRUCTURES], n_radial, cutoff)
        for k in range(0, len(indices), _CHUNK_STRUCTURES)
    ]
    if not parts:
        width = len(elements) * n_radial * 3
        return AtomDescriptors(np.zeros((0, width)), np.zeros(0, np.int64), np.zeros(0, np.int64))
    return AtomDescriptors(*(np.concatenate(column) for column in zip(*parts)))


def _descriptors_chunk(store: GraphStore, elements: np.ndarray, indices: np.ndarray, n_radial: int, cutoff: float):
    atom_counts = store.atom_ptr[indices + 1] - store.atom_ptr[indices]
    edge_counts = store.edge_ptr[indices + 1] - store.edge_ptr[indices]
    atom_rows = store.atom_rows(indices)
    edge_rows = store.edge_rows(indices)
    local_offset = np.repeat(np.cumsum(atom_counts) - atom_counts, edge_counts)  # chunk-local first atom
    edge_structure = np.repeat(indices, edge_counts)
    z = np.asarray(store.array("z")[atom_rows], dtype=np.int64)
    pos = np.asarray(store.array("pos")[atom_rows], dtype=np.float64)
    j = np.asarray(store.array("edge_index")[0, edge_rows], dtype=np.int64) + local_offset
    i = np.asarray(store.array("edge_index")[1, edge_rows], dtype=np.int64) + local_offset
    shift = np.asarray(store.array("cell_shift")[edge_rows], dtype=np.float64)
    cell = np.asarray(store.array("cell"), dtype=np.float64)[edge_structure]
    vec = pos[j] - pos[i] + np.einsum("ek,ekl->el", shift, cell)
    r = np.linalg.norm(vec, axis=1)
    keep = (r < cutoff) & (r > 1e-8)
    i, j, vec, r = i[keep], j[keep], vec[keep], r[keep]
    unit = vec / r[:, None]
    centres = np.linspace(0.5, cutoff, n_radial)
    width = centres[1] - centres[0]
    envelope = 0.5 * (np.cos(np.pi * r / cutoff) + 1.0)
    radial = np.exp(-0.5 * ((r[:, None] - centres) / width) ** 2) * envelope[:, None]  # [E, K]
    element_slot = np.searchsorted(elements, z[j])
    n_el = len(elements)
    channel = (i * n_el + element_slot)  # one row per (centre atom, neighbour element)
    n_rows = len(atom_rows) * n_el
    quadrupole = (unit[:, :, None] * unit[:, None, :] - np.eye(3) / 3.0).reshape(-1, 9)
    sums = np.zeros((n_rows, n_radial, 1 + 3 + 9))
    np.add.at(sums, channel, radial[:, :, None] * np.concatenate([np.ones((len(r), 1)), unit, quadrupole], 1)[:, None])
    g = sums[:, :, 0]
    p1 = np.sqrt((sums[:, :, 1:4] ** 2).sum(-1))
    p2 = np.sqrt((sums[:, :, 4:] ** 2).sum(-1))
    features = np.stack([g, p1, p2], axis=-1).reshape(len(atom_rows), n_el * n_radial * 3)
    return features, z, np.repeat(indices, atom_counts)


class EnvironmentCodebook:
    """Cluster label of every atom of a store (codebook fitted on the whole store), and the pool's cluster sizes."""

    def __init__(self, labels: np.ndarray, atom_ptr: np.ndarray, settings: CodebookSettings):
        self.labels = labels
        self.atom_ptr = atom_ptr
        self.settings = settings
        self.pool_counts = np.bincount(labels, minlength=int(labels.max(initial=-1)) + 1)
        self.n_clusters = int((self.pool_counts > 0).sum())

    def atom_labels(self, indices: Sequence[int]) -> np.ndarray:
        """Cluster labels of all atoms of the structures `indices`, structure by structure in that order."""
        indices = np.asarray(indices, dtype=np.int64)
        return self.labels[ranges(self.atom_ptr[indices], self.atom_ptr[indices + 1] - self.atom_ptr[indices])]

    def coverage(self, indices: Sequence[int]) -> CoverageReport:
        reached = np.unique(self.atom_labels(indices))
        return CoverageReport(
            fraction=len(reached) / self.n_clusters,
            weighted_fraction=float(self.pool_counts[reached].sum() / self.pool_counts.sum()),
            n_reached=len(reached),
            n_clusters=self.n_clusters,
        )

    def histograms(self, indices: Sequence[int]) -> np.ndarray:
        """Per-structure fraction of atoms in each cluster: [len(indices), n_labels] (rows sum to 1)."""
        indices = np.asarray(indices, dtype=np.int64)
        counts = np.diff(self.atom_ptr)[indices]
        rows = np.repeat(np.arange(len(indices)), counts)
        hist = np.zeros((len(indices), len(self.pool_counts)))
        np.add.at(hist, (rows, self.atom_labels(indices)), 1.0)
        return hist / np.maximum(counts, 1)[:, None]


def _cache_file(path: Path, settings: CodebookSettings) -> Path:
    digest = hashlib.sha256(json.dumps({"v": CODEBOOK_VERSION, **asdict(settings)}, sort_keys=True).encode())
    return path / "coverage" / f"codebook-{digest.hexdigest()[:12]}.npz"


def load_codebook(store, settings: CodebookSettings | None = None) -> EnvironmentCodebook:
    """The store's environment codebook: read from STORE/coverage/ when cached, else fitted there (atomically)."""
    settings = settings or CodebookSettings()
    store = _open(store)
    cache = _cache_file(store.path, settings)
    fingerprint = f"{store.manifest.get('source_sha256', '')}:{store.manifest.get('n_atoms', len(store.array('z')))}"
    if cache.is_file():
        with np.load(cache) as saved:
            if str(saved["fingerprint"]) == fingerprint:
                return EnvironmentCodebook(saved["labels"], store.atom_ptr, settings)
    labels = _fit_labels(store, settings)
    buffer = io.BytesIO()
    np.savez(buffer, labels=labels, fingerprint=np.array(fingerprint), settings=np.array(json.dumps(asdict(settings))))
    atomic_write_bytes(cache, buffer.getvalue())
    log.info("environment codebook: %d clusters fitted on %d atoms -> %s", labels.max() + 1, len(labels), cache)
    return EnvironmentCodebook(labels, store.atom_ptr, settings)


def _fit_labels(store: GraphStore, settings: CodebookSettings) -> np.ndarray:
    """k-means per centre element on standardised descriptors; cluster counts shared out by sqrt(atom count)."""
    from scipy.cluster.vq import kmeans2, vq

    described = atom_descriptors(store, None, settings.n_radial, settings.cutoff)
    rng = np.random.default_rng(settings.seed)
    elements, element_counts = np.unique(described.z, return_counts=True)
    share = np.sqrt(element_counts) / np.sqrt(element_counts).sum()
    labels = np.empty(len(described.z), dtype=np.int64)
    offset = 0
    for element, count, fraction in zip(elements, element_counts, share):
        rows = np.flatnonzero(described.z == element)
        x = described.features[rows]
        x = (x - x.mean(0)) / np.maximum(x.std(0), 1e-6)
        n_distinct = len(np.unique(np.round(x, 6), axis=0))
        k = int(min(max(2, round(settings.n_clusters * fraction)), n_distinct))
        if k <= 1:
            labels[rows] = offset
            offset += 1
            continue
        fit_rows = rng.choice(len(rows), settings.max_fit_atoms, replace=False) if count > settings.max_fit_atoms else slice(None)
        codes, _ = kmeans2(x[fit_rows], k, iter=settings.kmeans_iter, minit="++", seed=rng)
        labels[rows] = offset + vq(x, codes, check_finite=False)[0]
        offset += k
    return labels


def subset_coverage(store, indices: Sequence[int], *, weighted: bool = False, settings: CodebookSettings | None = None) -> float:
    """Fraction (0..1) of the store's environment clusters reached by structures `indices` (pool-weighted if asked)."""
    report = load_codebook(store, settings).coverage(indices)
    return report.weighted_fraction if weighted else report.fraction


# --- the DIRECT-style sampler --------------------------------------------------------------------------------------


def structure_features(codebook: EnvironmentCodebook, indices: Sequence[int], max_components: int = 32, variance: float = 0.95):
    """PCA scores of the Hellinger embedding (sqrt of cluster fractions) of each structure's environments."""
    x = np.sqrt(codebook.histograms(indices))
    x = x - x.mean(0)
    eigenvalues, eigenvectors = np.linalg.eigh(x.T @ x)  # [F, F] is small; cheaper than an SVD of x
    eigenvalues, eigenvectors = eigenvalues[::-1].clip(min=0.0), eigenvectors[:, ::-1]
    explained = np.cumsum(eigenvalues) / max(eigenvalues.sum(), 1e-300)
    n = int(min(max_components, np.searchsorted(explained, variance) + 1, len(eigenvalues)))
    return x @ eigenvectors[:, :n]


def coverage_order(pool: Sequence[int], seed: int, store, settings: CodebookSettings | None = None) -> np.ndarray:
    """One seeded ordering of `pool` whose every prefix reaches many environments and spreads across clusters.

    DIRECT-style stratification with a coverage-first priority: the pool's structures are clustered by k-means
    (sqrt(len(pool)) clusters) on PCA structure features. Each next pick is the structure that adds the most
    environment clusters not yet reached (greedy set cover, evaluated lazily: gains only shrink); among equal gains,
    the structure cluster sampled least so far (clusters ranked farthest-first from the largest), and within it the
    member nearest its centroid, then a seeded random order. Once every environment is reached, this is DIRECT's
    stratified round-robin across clusters.
    """
    import heapq

    from scipy.cluster.vq import kmeans2

    pool = np.asarray(pool, dtype=np.int64)
    if len(pool) < 3:
        return pool.copy()
    rng = np.random.default_rng(seed)
    codebook = load_codebook(store, settings)
    features = structure_features(codebook, pool)
    k = int(np.clip(round(np.sqrt(len(pool))), 2, 512))
    centroids, cluster = kmeans2(features, k, iter=20, minit="++", seed=rng)
    sizes = np.bincount(cluster, minlength=k)
    cluster_rank = np.empty(k, dtype=np.int64)
    cluster_rank[_farthest_first(centroids, sizes)] = np.arange(k)
    member_rank = np.empty(len(pool), dtype=np.int64)
    for c in np.flatnonzero(sizes):
        rows = np.flatnonzero(cluster == c)
        distance = ((features[rows] - centroids[c]) ** 2).sum(1)
        nearest = rows[np.argmin(distance)]
        member_rank[rows] = np.arange(1, len(rows) + 1)[rng.permutation(len(rows))]
        member_rank[nearest] = 0
    environments = [np.unique(codebook.atom_labels([s])) for s in pool]
    covered = np.zeros(len(codebook.pool_counts), dtype=bool)
    taken = np.zeros(k, dtype=np.int64)

    def key(row: int) -> tuple[int, int, int, int]:
        gain = int((~covered[environments[row]]).sum())
        return (-gain, int(taken[cluster[row]]), int(cluster_rank[cluster[row]]), int(member_rank[row]))

    heap = [(*key(row), row) for row in range(len(pool))]
    heapq.heapify(heap)
    reachable = np.unique(np.concatenate(environments))
    order = []
    while heap and not covered[reachable].all():
        *_, row = heapq.heappop(heap)
        fresh = key(row)
        if heap and fresh > heap[0][:4]:
            heapq.heappush(heap, (*fresh, row))
            continue
        order.append(row)
        covered[environments[row]] = True
        taken[cluster[row]] += 1
    rest = np.setdiff1d(np.arange(len(pool)), order)
    rest = rest[np.lexsort((member_rank[rest], cluster[rest]))]
    position = np.arange(len(rest)) - np.searchsorted(cluster[rest], cluster[rest])
    round_robin = np.lexsort((member_rank[rest], cluster_rank[cluster[rest]], taken[cluster[rest]] + position))
    return pool[np.concatenate([np.asarray(order, dtype=np.int64), rest[round_robin]])]


def _farthest_first(centroids: np.ndarray, sizes: Sequence[int]) -> list[int]:
    """Cluster visiting order: the largest first, then each next the farthest from those already visited."""
    order = [int(np.argmax(sizes))]
    distance = ((centroids - centroids[order[0]]) ** 2).sum(1)
    for _ in range(len(centroids) - 1):
        distance[order] = -1.0
        nxt = int(np.argmax(distance))
        order.append(nxt)
        distance = np.minimum(distance, ((centroids - centroids[nxt]) ** 2).sum(1))
    return order


def coverage_sampler(pool: Sequence[int], sizes: Sequence[int], seed: int, store) -> list[np.ndarray]:
    """The "coverage" sampler of scaling.data.subsets: nested prefixes of `coverage_order(pool, seed, store)`."""
    order = coverage_order(pool, seed, store)
    too_big = [s for s in sizes if s > len(order)]
    if too_big:
        raise InputError(f"coverage sampler: size {too_big[0]} exceeds the training pool ({len(order)} structures)")
    return [np.sort(order[: int(size)]) for size in sizes]
