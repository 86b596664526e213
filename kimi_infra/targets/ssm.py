"""An SSM parameter: SecureString when it holds a key, tier chosen by size.

Two AWS rules that moto 5.2 does not enforce, so we do:
- AWS will not change a parameter's type in place (HierarchyTypeMismatchException). A String
  that must become a SecureString is deleted and created again: its version history goes with
  it, readers see no parameter for that moment, and if the create fails (say, KMS access) the
  parameter stays absent until a run succeeds. A SecureString stays a SecureString even
  when the content no longer holds a key: encrypting plain text costs nothing.
- AWS will not move an Advanced parameter back to Standard, so one stays Advanced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from kimi_infra.render import Rendered
from kimi_infra.targets.base import (
    AwsTarget,
    Deployed,
    Revision,
    RevisionText,
    WriteOutcome,
    aws_errors,
    failure,
    is_current,
    log_deleted,
    log_outcome,
)

STANDARD_LIMIT = 4096  # bytes, Standard tier
ADVANCED_LIMIT = 8192  # bytes, Advanced tier; nothing larger fits in SSM
# Each version we put carries its content hash in the version's description (as S3 objects carry
# it in metadata), so `history --redeploy` can tell our versions from anyone else's.
DESCRIPTION_PREFIX = "kimi-infra content hash "


@dataclass(frozen=True, kw_only=True)
class SsmParameterTarget(AwsTarget):
    """The parameter `parameter` in `region`; `kms_key_id` for SecureString (None: the
    account's aws/ssm key)."""

    service: ClassVar[str] = "ssm"
    parameter: str

    @property
    def location(self) -> str:
        return f"ssm:{self.region}:{self.parameter}"

    def read(self) -> Deployed | None:
        """GetParameter (decrypted in memory only) and hash the value; revision = Version."""
        with aws_errors(self.location, "read"):
            return self._read(self._client())

    def read_text(self) -> str | None:
        """The parameter's value (decrypted in memory), or None when there is no parameter."""
        with aws_errors(self.location, "read"):
            client = self._client()
            try:
                return client.get_parameter(Name=self.parameter, WithDecryption=True)["Parameter"]["Value"]
            except client.exceptions.ParameterNotFound:
                return None

    def write(self, rendered: Rendered) -> WriteOutcome:
        """Put the value unless current (Overwrite only when the parameter exists, so a
        concurrent creator shows as a ConflictError). Too large: TargetError before any call."""
        tier = tier_for(self.location, rendered)
        with aws_errors(self.location, "write"):
            client = self._client()
            deployed = self._read(client)
            if is_current(deployed, rendered):
                log_outcome(self.location, "unchanged", rendered)
                return "unchanged"
            self._put(client, deployed, rendered, tier)
        log_outcome(self.location, "written", rendered)
        return "written"

    def delete(self) -> bool:
        """DeleteParameter: the parameter and all its versions are gone."""
        with aws_errors(self.location, "delete"):
            client = self._client()
            try:
                client.delete_parameter(Name=self.parameter)
            except client.exceptions.ParameterNotFound:
                return False
        log_deleted(self.location)
        return True

    def history(self) -> list[Revision]:
        """Every version AWS keeps (up to 100), newest first; hashes are computed from the
        decrypted values, which never leave memory."""
        with aws_errors(self.location, "read history"):
            versions = self._versions(self._client())
        return [Revision(revision=str(v["Version"]), content_hash=self.hasher.of_text(v["Value"]),
                         time=v.get("LastModifiedDate")) for v in reversed(versions)]  # AWS lists oldest first

    def revision_text(self, revision: str) -> RevisionText | None:
        """That version's value (decrypted in memory) and the hash its description records (None
        without our description); None when there is no such version."""
        if not revision.isdigit():
            return None
        with aws_errors(self.location, "read a version of"):
            versions = self._versions(self._client())
        found = next((v for v in versions if str(v["Version"]) == revision), None)
        if found is None:
            return None
        description = found.get("Description") or ""
        recorded = description.removeprefix(DESCRIPTION_PREFIX) if description.startswith(DESCRIPTION_PREFIX) else None
        return RevisionText(found["Value"], recorded)

    def _versions(self, client: Any) -> list[dict]:
        """Every version AWS keeps, oldest first, values decrypted in memory; [] without a parameter."""
        pages = client.get_paginator("get_parameter_history").paginate(Name=self.parameter, WithDecryption=True)
        try:
            return [version for page in pages for version in page["Parameters"]]
        except client.exceptions.ParameterNotFound:
            return []

    def _read(self, client: Any) -> Deployed | None:
        try:
            parameter = client.get_parameter(Name=self.parameter, WithDecryption=True)["Parameter"]
        except client.exceptions.ParameterNotFound:
            return None
        return Deployed(content_hash=self.hasher.of_text(parameter["Value"]), revision=str(parameter["Version"]),
                        modified=parameter.get("LastModifiedDate"), protected=parameter["Type"] == "SecureString")

    def _put(self, client: Any, deployed: Deployed | None, rendered: Rendered, tier: str) -> None:
        secure = rendered.holds_secret or (deployed is not None and deployed.protected)
        if deployed is not None and secure and not deployed.protected:
            client.delete_parameter(Name=self.parameter)  # String -> SecureString: AWS needs a new parameter
            deployed = None
        if deployed is not None and tier == "Standard":
            tier = self._tier(client)  # keeps Advanced
        key = {"KeyId": self.kms_key_id} if secure and self.kms_key_id else {}
        client.put_parameter(Name=self.parameter, Value=rendered.text, Type="SecureString" if secure else "String",
                             Tier=tier, Overwrite=deployed is not None,
                             Description=DESCRIPTION_PREFIX + rendered.content_hash, **key)

    def _tier(self, client: Any) -> str:
        found = client.describe_parameters(
            ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": [self.parameter]}])["Parameters"]
        return found[0]["Tier"] if found else "Standard"


def tier_for(location: str, rendered: Rendered) -> str:
    """The smallest tier that holds the text; a TargetError when none does."""
    size = len(rendered.text.encode("utf-8"))
    if size <= STANDARD_LIMIT:
        return "Standard"
    if size <= ADVANCED_LIMIT:
        return "Advanced"
    raise failure(location, "write", f"the config is {size} bytes, over the {ADVANCED_LIMIT}-byte limit of an "
                  "Advanced SSM parameter", "deploy it to an s3 or file target instead")
