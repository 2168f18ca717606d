"""The datasets ``python -m scanpath download`` knows: where each file comes from, what it is checked
against, which licence applies and which data config the result feeds (docs/datasets.md §2).

Nothing here is guessed. A field that could not be established from an official source says so:
``sha256=None`` (no published SHA-256: the download refuses to run unverified unless the user passes
``--sha256`` or ``--no-verify``), ``url=None`` (no public direct link: the user passes ``--url``),
``md5`` only where a third party (named in ``md5_source``) publishes one. Archive layouts that were
read from third-party code rather than from the archive itself are marked "(unverified)".
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import PurePosixPath

ARCHIVE_SUFFIXES = {".zip": "zip", ".tar": "tar", ".tgz": "tar", ".tar.gz": "tar", ".tar.bz2": "tar",
                    ".tar.xz": "tar", ".7z": "7z"}


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset.

    ``name`` is the file name on disk; ``extract_to`` the sub-folder of the dataset folder an archive
    is unpacked into (or a plain file is placed in; "" = the dataset folder itself).
    """

    name: str
    url: str | None
    sha256: str | None = None
    md5: str | None = None
    md5_source: str | None = None
    extract_to: str = ""
    note: str = ""

    @property
    def kind(self) -> str:
        """``zip`` / ``tar`` (extracted), ``7z`` (kept as downloaded: the standard library cannot read
        it) or ``file`` (placed as is)."""
        lower = self.name.lower()
        for suffix in sorted(ARCHIVE_SUFFIXES, key=len, reverse=True):
            if lower.endswith(suffix):
                return ARCHIVE_SUFFIXES[suffix]
        return "file"


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """A Hydra command line for the installed data. ``overrides`` are templates whose ``{key}`` fields
    are filled with the paths of :attr:`DatasetSpec.locate` (``{key_dir}``: that path's folder),
    ``{dataset_dir}``, ``{root}`` and ``{root/<name>}`` (another dataset's folder under the same root);
    ``ready=False`` means a manual step (``DatasetSpec.after``) comes first."""

    label: str
    overrides: tuple[str, ...]
    ready: bool = True


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    name: str
    title: str
    source: str
    licence: str
    licence_url: str | None
    citation: str
    files: tuple[RemoteFile, ...]
    locate: dict[str, str] = dataclasses.field(default_factory=dict)
    configs: tuple[DataConfig, ...] = ()
    after: str = ""
    notes: str = ""

    def terms_text(self) -> str:
        """The block printed before a download and accepted once per root (its hash is remembered)."""
        lines = [f"{self.title}", f"  source:   {self.source}", f"  licence:  {self.licence}"]
        if self.licence_url:
            lines.append(f"  terms:    {self.licence_url}")
        lines.append(f"  cite:     {self.citation}")
        if self.notes:
            lines.append(f"  note:     {self.notes}")
        return "\n".join(lines)

    def terms_sha256(self) -> str:
        return hashlib.sha256(self.terms_text().encode("utf-8")).hexdigest()

    def file(self, name: str) -> RemoteFile:
        for f in self.files:
            if f.name == name:
                return f
        raise KeyError(name)


def _check(spec: DatasetSpec) -> DatasetSpec:
    names = [f.name for f in spec.files]
    assert len(set(names)) == len(names), spec.name
    for f in spec.files:
        assert PurePosixPath(f.name).name == f.name and f.name not in {"", ".", ".."}, f.name
        assert f.url is not None or f.note, f"{spec.name}/{f.name}: a missing URL needs a note"
    return spec


_SBU = "http://vision.cs.stonybrook.edu/~cvlab_download"
_PYSAL = "pysaliency (matthias-k/pysaliency, external_datasets)"
_CC_BY_NC_SA = "https://creativecommons.org/licenses/by-nc-sa/4.0/"
_STI_COMMIT = "0a593dfae9a4951b1a99908a3eb997279bcc458a"

REGISTRY: dict[str, DatasetSpec] = {s.name: _check(s) for s in (
    DatasetSpec(
        name="coco_search18",
        title="COCO-Search18 fixations (target-present train/validation, target-absent train+validation)",
        source="https://sites.google.com/view/cocosearch/ (files served from " + _SBU + "/)",
        licence="not stated in a form we could verify; the fixations are released by the Stony Brook "
                "Computer Vision Lab for research, the images (not downloaded here) are COCO images under "
                "their own terms. Read the dataset page before use.",
        licence_url=None,
        citation="Chen et al., COCO-Search18 fixation dataset for predicting goal-directed attention control, "
                 "Scientific Reports 11, 2021 (doi:10.1038/s41598-021-87715-9); Yang et al., CVPR 2020",
        files=(
            RemoteFile("COCOSearch18-fixations-TP.zip", f"{_SBU}/COCOSearch18-fixations-TP.zip",
                       md5="bfcf4c005a89c43a1719b28b028c5499", md5_source=_PYSAL,
                       note="no published SHA-256; holds coco_search18_fixations_TP_{train,validation}_split1.json "
                            "(names as read by pysaliency; unverified)"),
            RemoteFile("coco_search18_fixations_TA_trainval.json", f"{_SBU}/coco_search18_fixations_TA_trainval.json",
                       md5="bd491cce105ff6470536afdab1184776", md5_source=_PYSAL, note="no published SHA-256"),
        ),
        locate={"tp_train": "**/coco_search18_fixations_TP_train_split1.json",
                "tp_valid": "**/coco_search18_fixations_TP_validation_split1.json",
                "ta": "coco_search18_fixations_TA_trainval.json"},
        configs=(
            DataConfig("target-present train + validation",
                       ("data=coco_search18", "data.annotations=[{tp_train},{tp_valid}]")),
            DataConfig("target-absent train + validation",
                       ("data=coco_search18", "data.annotations={ta}")),
        ),
        notes="the test split is not public (third-party copies only); images: COCOSearch18-images-TP.zip "
              "from the same server, passed as data.image_dir",
    ),
    DatasetSpec(
        name="amazon_covers",
        title="STI Amazon book-cover search fixations (Amazon.json, 100 collages x 6 subjects, no images)",
        source="https://github.com/DFKI-Interactive-Machine-Learning/STI-Dataset (AmazonCovers/Amazon.json, "
               f"pinned to commit {_STI_COMMIT[:12]})",
        licence="CC BY-NC-SA 4.0 (non-commercial, share-alike), as stated by the STI-Dataset repository's "
                "LICENSE.md; original data by Sattar et al.",
        licence_url=_CC_BY_NC_SA,
        citation="Stauden, Barz, Sonntag, Visual Search Target Inference Using Bag of Deep Visual Words, "
                 "KI 2018; Sattar et al., Prediction of search targets from fixations in open-world settings, CVPR 2015",
        files=(
            RemoteFile("Amazon.json", "https://raw.githubusercontent.com/DFKI-Interactive-Machine-Learning/"
                       f"STI-Dataset/{_STI_COMMIT}/AmazonCovers/Amazon.json",
                       note="no published checksum (the URL is pinned to a commit, so the content cannot change)"),
        ),
        locate={"annotations": "Amazon.json"},
        configs=(DataConfig("layout-only (no images)",
                            ("data=amazon_covers", "data.root={annotations_dir}", "data.annotations={annotations}")),),
    ),
    DatasetSpec(
        name="amazon_covers_images",
        title="STI dataset package with images (STI-Dataset.zip: AmazonCovers/ and VIU/ JSONs and images)",
        source="https://github.com/DFKI-Interactive-Machine-Learning/STI-Dataset (README link to the package)",
        licence="CC BY-NC-SA 4.0, as stated by the STI-Dataset repository (the archive's own terms were "
                "not read: unverified)",
        licence_url=_CC_BY_NC_SA,
        citation="Stauden, Barz, Sonntag, KI 2018; Barz, Stauden, Sonntag, ETRA 2020; Sattar et al., CVPR 2015",
        files=(RemoteFile("STI-Dataset.zip", "https://iml.dfki.de/wp-content/uploads/2020/05/STI-Dataset.zip",
                          note="no published checksum; layout AmazonCovers/{Amazon.json,images/} from the "
                               "repository README (unverified)"),),
        locate={"annotations": "**/AmazonCovers/Amazon.json", "images": "**/AmazonCovers/images"},
        configs=(DataConfig("with collage images",
                            ("data=amazon_covers", "data.root={annotations_dir}", "data.annotations={annotations}",
                             "data.image_dir={images}")),),
    ),
    DatasetSpec(
        name="mit1003",
        title="MIT1003 (Judd et al.): 1003 images, raw eye tracking of 15 subjects, MATLAB database code",
        source="http://people.csail.mit.edu/tjudd/WherePeopleLook/",
        licence="not stated on the pages we could read; research use, cite the paper. Read the dataset page "
                "before use.",
        licence_url=None,
        citation="Judd, Ehinger, Durand, Torralba, Learning to Predict Where Humans Look, ICCV 2009",
        files=(
            RemoteFile("ALLSTIMULI.zip", "http://people.csail.mit.edu/tjudd/WherePeopleLook/ALLSTIMULI.zip",
                       md5="0d7df8b954ecba69b6796e77b9afe4b6", md5_source=_PYSAL, note="no published SHA-256"),
            RemoteFile("DATA.zip", "http://people.csail.mit.edu/tjudd/WherePeopleLook/DATA.zip",
                       md5="ea19d74ad0a0144428c53e9d75c2d71c", md5_source=_PYSAL, note="no published SHA-256"),
            RemoteFile("DatabaseCode.zip", "http://people.csail.mit.edu/tjudd/WherePeopleLook/Code/DatabaseCode.zip",
                       md5="d8e5e2b6ec827f4115ddbff59b0bdf1d", md5_source=_PYSAL, extract_to="DatabaseCode",
                       note="no published SHA-256"),
        ),
        locate={"stimuli": "**/ALLSTIMULI"},
        configs=(DataConfig("free viewing, after extracting fixations into STIMULI/ + SCANPATHS/",
                            ("data=mit1003", "data.root={dataset_dir}"), ready=False),),
        after="DATA/ holds raw eye-tracking .mat files: fixations are extracted with Judd's MATLAB code "
              "(DatabaseCode/, e.g. as pysaliency does) into SCANPATHS/<stem>/<subject> text files "
              "(x y t_start t_end) beside STIMULI/<stem>.jpeg, the layout data=mit1003 reads (docs/nevaclip.md §3); "
              "ALLSTIMULI/ serves CapMIT1003 as is (its data.mit1003_root is this folder)",
    ),
    DatasetSpec(
        name="capmit1003",
        title="CapMIT1003: captions and click paths on MIT1003 images (capmit1003.db, SQLite)",
        source="https://github.com/mad-lab-fau/CapMIT1003",
        licence="not stated in the repository files we could read; cite the paper and MIT1003",
        licence_url=None,
        citation="Zanca, Zugarini et al., arXiv:2305.12380 (CapMIT1003, NevaClip); Judd et al., ICCV 2009",
        files=(RemoteFile("capmit1003.db", None,
                          note="no public direct URL could be established (the upstream helper's link is redacted): "
                               "get the file from the authors and pass --url file:///path/to/capmit1003.db "
                               "(any http(s) URL works too)"),),
        locate={"db": "capmit1003.db"},
        configs=(DataConfig("captions on MIT1003 (needs `download mit1003` into the same root for ALLSTIMULI/)",
                            ("data=capmit1003", "data.root=null", "data.db_path={db}",
                             "data.mit1003_root={root/mit1003}")),),
    ),
    DatasetSpec(
        name="salient360",
        title="Salient360! training set, head-only scanpaths and saliency maps of the 85 images (Image_H.7z)",
        source="https://zenodo.org/records/10650505 ([LS2N_IPI_Salient360])",
        licence="not established (read the Zenodo record before use); the salient360Toolbox code is MIT",
        licence_url="https://zenodo.org/records/10650505",
        citation="Gutiérrez, David, Rai, Le Callet, Toolbox and dataset for the development of saliency and "
                 "scanpath models for omnidirectional/360° still images, Signal Processing: Image Communication 2018; "
                 "David et al., A dataset of head and eye movements for 360° videos, MMSys 2018",
        files=(RemoteFile("Image_H.7z", "https://zenodo.org/records/10650505/files/Image_H.7z?download=1",
                          note="no checksum read; file name from a third-party README, URL in Zenodo's "
                               "records/<id>/files/<name> form (unverified). Head+eye (HE) files: pass --url"),),
        locate={"archive": "Image_H.7z"},
        after="7z archives cannot be unpacked with Python's standard library: run `7z x Image_H.7z` in the "
              "dataset folder, then read the H(E)scanpath_N.txt files with "
              "scanpath.io.salient360.load_fixation_list (docs/humanoid360.md §3)",
    ),
    DatasetSpec(
        name="hstar",
        title="H* Bench (humanoid visual search in 360° panoramas): hos_bench.zip and hps_bench.zip",
        source="https://huggingface.co/datasets/humanoid-vstar/hstar_bench",
        licence="not stated in the upstream README; read the dataset card on Hugging Face before use",
        licence_url="https://huggingface.co/datasets/humanoid-vstar/hstar_bench",
        citation="Yu et al., Thinking in 360°: Humanoid Visual Search in the Wild, arXiv:2511.20351",
        files=(
            RemoteFile("hos_bench.zip", "https://huggingface.co/datasets/humanoid-vstar/hstar_bench/resolve/main/"
                       "hos_bench.zip", extract_to="hos_bench", note="no checksum read (the Hub's LFS SHA-256 was "
                       "not available offline: pin it with --sha256 from the file page)"),
            RemoteFile("hps_bench.zip", "https://huggingface.co/datasets/humanoid-vstar/hstar_bench/resolve/main/"
                       "hps_bench.zip", extract_to="hps_bench", note="no checksum read (as hos_bench.zip)"),
        ),
        locate={"hos": "hos_bench", "hos_items": "hos_bench/**/annotation.json",
                "hps": "hps_bench", "hps_items": "hps_bench/**/annotation.json"},
        configs=(DataConfig("object search (HOS)", ("data=hstar", "data.root={hos}", "data.task=HOS")),
                 DataConfig("path search (HPS)", ("data=hstar", "data.root={hps}", "data.task=HPS"))),
    ),
)}
