"""The images a SageMaker model package may name: the project's own (which serves: ``docker run IMAGE
serve``, found as Metaflow's Batch image), or a SageMaker scikit-learn framework image only when its
scikit-learn is the one the model was pickled with; and the package's InferenceSpecification.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from spylib.core.errors import ConfigError
from spylib.core.runtime import metaflow_batch_image
from spylib.registry.bundle import runtime_versions
from spylib.registry.inference import MEDIA_TYPES

# The SageMaker scikit-learn images: repository name, and tags such as 1.2-1-cpu-py3 (major.minor-build).
SKLEARN_REPOSITORY = "sagemaker-scikit-learn"
SKLEARN_TAG_PATTERN = re.compile(r"(\d+)\.(\d+)-\d+(?:-|$)")

# Public ECR accounts of the SageMaker scikit-learn images (repository ``sagemaker-scikit-learn``),
# copied from the sagemaker SDK's ``image_uri_config/sklearn.json`` ("inference" scope; identical for
# 0.23-1, 1.0-1 and 1.2-1). Used only when the optional ``sagemaker`` package is not installed.
SKLEARN_IMAGE_ACCOUNTS: dict[str, str] = {
    "af-south-1": "510948584623",
    "ap-east-1": "651117190479",
    "ap-northeast-1": "354813040037",
    "ap-northeast-2": "366743142698",
    "ap-northeast-3": "867004704886",
    "ap-south-1": "720646828776",
    "ap-south-2": "628508329040",
    "ap-southeast-1": "121021644041",
    "ap-southeast-2": "783357654285",
    "ap-southeast-3": "951798379941",
    "ap-southeast-4": "106583098589",
    "ca-central-1": "341280168497",
    "cn-north-1": "450853457545",
    "cn-northwest-1": "451049120500",
    "eu-central-1": "492215442770",
    "eu-central-2": "680994064768",
    "eu-north-1": "662702820516",
    "eu-south-1": "978288397137",
    "eu-south-2": "104374241257",
    "eu-west-1": "141502667606",
    "eu-west-2": "764974769150",
    "eu-west-3": "659782779980",
    "me-central-1": "272398656194",
    "me-south-1": "801668240914",
    "sa-east-1": "737474898029",
    "us-east-1": "683313688378",
    "us-east-2": "257758044811",
    "us-gov-east-1": "237065988967",
    "us-gov-west-1": "414596584902",
    "us-west-1": "746614075791",
    "us-west-2": "246618743249",
}


def inference_specification(image: str, model_data_url: str) -> dict[str, Any]:
    """The model package's InferenceSpecification: one container, ``model.tar.gz`` unpacked at
    ``/opt/ml/model``, handlers from ``code/inference.py`` in it (both the project's image and the
    SageMaker scikit-learn image read SAGEMAKER_PROGRAM/SAGEMAKER_SUBMIT_DIRECTORY), CSV and JSON."""
    return {
        "Containers": [
            {
                "Image": image,
                "ModelDataUrl": model_data_url,
                "Environment": {
                    "SAGEMAKER_PROGRAM": "inference.py",
                    "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                },
            }
        ],
        "SupportedContentTypes": list(MEDIA_TYPES),
        "SupportedResponseMIMETypes": list(MEDIA_TYPES),
    }


def framework_sklearn_version(image_uri: str) -> str | None:
    """The scikit-learn ``major.minor`` of a SageMaker scikit-learn image, read from its tag
    (``.../sagemaker-scikit-learn:1.2-1-cpu-py3`` -> ``"1.2"``); None for any other image.
    ConfigError for a scikit-learn image whose tag does not say (a digest, ``latest``)."""
    repository, _, tag = image_uri.rpartition("/")[2].partition(":")
    if repository.split("@")[0] != SKLEARN_REPOSITORY:
        return None
    match = SKLEARN_TAG_PATTERN.match(tag)
    if not match:
        raise ConfigError(
            f"cannot tell which scikit-learn the image {image_uri!r} has: use a tagged SageMaker "
            "scikit-learn image (e.g. ...:1.2-1-cpu-py3) or the project's image",
            source="SageMaker registry",
            key="image_uri",
        )
    return f"{match.group(1)}.{match.group(2)}"


def inference_image(image_uri: str | None, region: str, sklearn_version: str) -> str:
    """The image a model package names for a bundle pickled with scikit-learn ``sklearn_version``.

    1. ``image_uri`` (SpyFlow's ``--sagemaker-image-uri``) when given;
    2. else Metaflow's ``METAFLOW_BATCH_CONTAINER_IMAGE`` (:func:`metaflow_batch_image`): the
       project's image, built from the same dependencies the model was trained with;
    3. else the SageMaker scikit-learn image of ``region`` (:func:`sklearn_image_uri`), but only when
       its scikit-learn is ``sklearn_version``'s ``major.minor``.

    A SageMaker scikit-learn image whose version differs from the training's is refused with a
    ConfigError naming both (an unpickled estimator of another version may fail or predict
    differently); nothing is registered. Another image's scikit-learn cannot be read from its URI:
    the project's server checks it against the bundle's ``pickled_with`` when it starts.
    """
    chosen = image_uri or metaflow_batch_image()
    source = "--sagemaker-image-uri" if image_uri else "METAFLOW_BATCH_CONTAINER_IMAGE"
    if not chosen:
        chosen, source = sklearn_image_uri(region), "the default SageMaker scikit-learn image"
    image_version = framework_sklearn_version(chosen)
    trained = ".".join(sklearn_version.split(".")[:2])
    if image_version is not None and image_version != trained:
        raise ConfigError(
            f"{source} {chosen} has scikit-learn {image_version}, but the model is pickled with "
            f"scikit-learn {sklearn_version}: register with the project's image (docker/Dockerfile, pushed "
            "to ECR) as --sagemaker-image-uri or METAFLOW_BATCH_CONTAINER_IMAGE, or with a SageMaker "
            f"scikit-learn image {trained}-*",
            source="SageMaker registry",
            key="image_uri",
        )
    return chosen


def check_inference_image(image_uri: str | None, region: str | None = None) -> str:
    """:func:`inference_image` for a model this process would train and pickle (its scikit-learn), in
    ``region`` (default: boto3's): for a flow's ``start``, so a registration that would be refused
    fails before any training. Returns the image; ConfigError naming both versions otherwise."""
    return inference_image(image_uri, region or resolve_region(), runtime_versions()["scikit-learn"])


def sklearn_image_uri(region: str, framework_version: str = "1.2-1") -> str:
    """SageMaker scikit-learn inference image URI for ``region``.

    Uses the optional ``sagemaker`` package's bundled table when it is installed (v3:
    ``sagemaker.core.image_uris``; v2: ``sagemaker.image_uris``), otherwise :data:`SKLEARN_IMAGE_ACCOUNTS`.
    Its scikit-learn is the version's ``major.minor`` (1.2 for ``1.2-1``); :func:`inference_image`
    uses it only for a model pickled with that scikit-learn.
    """
    retrieve = find_sdk_image_retriever()
    if retrieve is not None:
        with contextlib.suppress(Exception):  # an SDK without this region/version: use the table
            return str(retrieve("sklearn", region=region, version=framework_version, image_scope="inference"))
    account = SKLEARN_IMAGE_ACCOUNTS.get(region)
    if account is None:
        raise ConfigError(
            f"no SageMaker scikit-learn image known for region {region!r}; pass image_uri explicitly",
            source="sklearn_image_uri",
            key="region",
        )
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{domain}/sagemaker-scikit-learn:{framework_version}-cpu-py3"


def find_sdk_image_retriever() -> Any | None:
    """``image_uris.retrieve`` from the sagemaker SDK (v3 layout first, then v2), or None."""
    for module_name in ("sagemaker.core.image_uris", "sagemaker.image_uris"):
        try:
            module = __import__(module_name, fromlist=["retrieve"])
        except Exception:  # not installed, or an SDK that fails to import without credentials
            continue
        retrieve = getattr(module, "retrieve", None)
        if callable(retrieve):
            return retrieve
    return None


def resolve_region(client: Any = None) -> str:
    """The region of an injected client, else boto3's (AWS_REGION/AWS_DEFAULT_REGION/profile)."""
    region = getattr(getattr(client, "meta", None), "region_name", None)
    if not region:
        import boto3

        region = boto3.session.Session().region_name
    if not region:
        raise ConfigError(
            "no AWS region: pass region= or set AWS_REGION / AWS_DEFAULT_REGION",
            source="SageMaker registry",
            key="region",
        )
    return str(region)
