"""UserDirectory over the MemoryDB control plane: users, where they live, who owns them.

Discovery follows the API (DescribeUsers -> DescribeACLs -> DescribeClusters with shard
details), never the secret: the secret's host could name any server, and a least-privilege user
cannot run CLUSTER SHARDS to ask the cluster itself.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from rotation import passwords
from rotation.adapters.aws import BotoAdapter, call
from rotation.errors import (
    ClaimContestedError,
    InvalidPasswordError,
    NoClusterError,
    NodeNotReadyError,
    UserBusyError,
    UserNotFoundError,
    UserOwnedElsewhereError,
)
from rotation.models import Cluster, Endpoint, MemoryDBUser, Node, Topology
from rotation.ports import UserTags

if TYPE_CHECKING:
    from mypy_boto3_memorydb import MemoryDBClient  # noqa: F401 - named in the base class below

MAX_PASSWORDS = 2
OPEN_ACCESS_ACL = "open-access"
# The tag on a MemoryDB user naming the secret that rotates it, and the prefix of the short-lived
# tags a first claim announces itself with before it writes the owner tag (see `claim`).
OWNER_TAG = "memorydb-rotation:secret"
CLAIM_TAG_PREFIX = "memorydb-rotation:claim:"


def _no_user(name: str) -> UserNotFoundError:
    return UserNotFoundError(f"there is no MemoryDB user '{name}'")


class MemoryDBDirectory(BotoAdapter["MemoryDBClient"]):
    SERVICE = "memorydb"

    def describe(self, user_name: str) -> MemoryDBUser:
        response = call(
            "DescribeUsers",
            lambda: self.client.describe_users(UserName=user_name),
            {"UserNotFoundFault": lambda _: _no_user(user_name)},
        )
        users = [u for u in response.get("Users", []) if u.get("Name") == user_name]
        if not users:
            raise _no_user(user_name)
        user = users[0]
        authentication = user.get("Authentication", {})
        return MemoryDBUser(
            name=user_name,
            arn=user.get("ARN", ""),
            status=user.get("Status", ""),
            auth_type=authentication.get("Type", ""),
            password_count=authentication.get("PasswordCount", 0),
            acl_names=tuple(user.get("ACLNames", [])),
            access_string=user.get("AccessString", ""),
        )

    def topology(self, user: MemoryDBUser) -> Topology:
        """Every node of every cluster whose ACL holds the user, read fresh on every call."""
        acls = tuple(sorted(name for name in user.acl_names if name != OPEN_ACCESS_ACL))
        cluster_acl: dict[str, str] = {}
        for acl in acls:
            for found in self._pages("DescribeACLs", self.client.describe_acls, ACLName=acl):
                for described in found.get("ACLs", []):
                    # The ACL must still hold the user: the user's ACLNames and the ACL's
                    # UserNames are two views that a concurrent change can split.
                    if user.name in described.get("UserNames", []):
                        for cluster in described.get("Clusters", []):
                            cluster_acl.setdefault(cluster, acl)
        clusters = tuple(self._cluster(name, acl) for name, acl in sorted(cluster_acl.items()))
        if not clusters:
            raise NoClusterError(
                f"MemoryDB puts user '{user.name}' in no ACL that a cluster uses: there is no "
                "node to prove a password on"
            )
        return Topology(user=user.name, acls=acls, clusters=clusters)

    def _cluster(self, name: str, acl: str) -> Cluster:
        found: list[Any] = []
        for page in self._pages(
            "DescribeClusters",
            self.client.describe_clusters,
            ClusterName=name,
            ShowShardDetails=True,
        ):
            found.extend(c for c in page.get("Clusters", []) if c.get("Name") == name)
        if not found:
            raise NoClusterError(f"cluster '{name}' of ACL '{acl}' does not exist")
        cluster = found[0]
        tls = bool(cluster.get("TLSEnabled", False))
        described = [node for shard in cluster.get("Shards", []) for node in shard.get("Nodes", [])]
        # A node MemoryDB names but that has no endpoint yet (`creating`, a shard being added) is
        # never passed over: a password proven without it could be refused there once it serves.
        absent = sorted(
            f"{name}/{node.get('Name', '?')} ({node.get('Status', 'no status')})"
            for node in described
            if not node.get("Endpoint", {}).get("Address")
        )
        if absent:
            raise NodeNotReadyError(
                f"node(s) without an endpoint yet: {', '.join(absent)}; nothing is proven or "
                "written until every node MemoryDB names can be asked"
            )
        nodes = tuple(
            Node(name=node["Name"], cluster=name, endpoint=_endpoint(node["Endpoint"], tls))
            for node in described
        )
        if not nodes:
            raise NoClusterError(f"cluster '{name}' lists no node")
        return Cluster(
            name=name,
            acl=acl,
            endpoint=_endpoint(cluster.get("ClusterEndpoint", {}), tls),
            tls=tls,
            nodes=nodes,
        )

    def _pages(self, operation: str, method: Any, **request: Any) -> Iterator[Any]:
        """MemoryDB's Describe* calls page with NextToken (boto3 has no paginator for them)."""
        token: str | None = None
        while True:
            page_request = {**request, **({"NextToken": token} if token else {})}
            page = call(operation, functools.partial(method, **page_request))
            yield page
            token = page.get("NextToken")
            if not token:
                return

    def tags(self, user: MemoryDBUser) -> UserTags:
        """The user's tags from one ListTags call, with the owner tag's secret ARN (or None when
        no secret has claimed the user)."""
        tags = self._tags(user)
        return UserTags(owner=tags.get(OWNER_TAG), tags=tags)

    def owner(self, user: MemoryDBUser) -> str | None:
        """The secret ARN in the user's owner tag, or None when no secret has claimed it."""
        return self.tags(user).owner

    def _tags(self, user: MemoryDBUser) -> dict[str, str]:
        response = call(
            "ListTags",
            lambda: self.client.list_tags(ResourceArn=user.arn),
            {"UserNotFoundFault": lambda _: _no_user(user.name)},
        )
        return {str(t.get("Key", "")): str(t.get("Value", "")) for t in response.get("TagList", [])}

    def claim(self, user: MemoryDBUser, secret_arn: str) -> None:
        """Make `secret_arn` the user's owner, unless another secret is claiming it too.

        TagResource overwrites a key's value, so writing the owner tag straight away would let a
        late claimer erase an earlier owner without either noticing. A claim is announced first,
        under a key of its own that nobody else writes; the claimer then reads the tags back and
        becomes the owner only if it saw no owner and no other secret's claim. Of two claims in
        flight, each sees the other (the later one's read follows the earlier one's write), so
        at most one becomes the owner; both may withdraw, and both are retried. A withdrawn claim
        is removed before anything else is written.
        """
        mine = f"{CLAIM_TAG_PREFIX}{time.time_ns():020d}"
        self._tag(user, {mine: secret_arn})
        tags = self._tags(user)
        owner = tags.get(OWNER_TAG)
        rivals = sorted(
            {v for k, v in tags.items() if k.startswith(CLAIM_TAG_PREFIX) and v != secret_arn}
        )
        if owner in (None, secret_arn) and not rivals:
            self._tag(user, {OWNER_TAG: secret_arn})
        own_claims = [
            k for k, v in tags.items() if k.startswith(CLAIM_TAG_PREFIX) and v == secret_arn
        ]
        call(
            "UntagResource",
            lambda: self.client.untag_resource(ResourceArn=user.arn, TagKeys=own_claims),
            {"UserNotFoundFault": lambda _: _no_user(user.name)},
        )
        if owner not in (None, secret_arn):
            raise UserOwnedElsewhereError(
                f"user '{user.name}' was claimed by secret {owner} while secret {secret_arn} was "
                "claiming it; this claim is withdrawn and nothing else was written"
            )
        if rivals:
            raise ClaimContestedError(
                f"secret(s) {', '.join(rivals)} claim user '{user.name}' at the same time as "
                f"secret {secret_arn}; this claim is withdrawn and nothing else was written (a "
                f"claim left by a crashed invocation is a '{CLAIM_TAG_PREFIX}*' tag to remove)"
            )

    def _tag(self, user: MemoryDBUser, tags: dict[str, str]) -> None:
        call(
            "TagResource",
            lambda: self.client.tag_resource(
                ResourceArn=user.arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
            ),
            {"UserNotFoundFault": lambda _: _no_user(user.name)},
        )

    def set_passwords(self, user_name: str, passwords_: Sequence[SecretStr]) -> None:
        if not 1 <= len(passwords_) <= MAX_PASSWORDS:
            raise InvalidPasswordError(f"a user holds 1 to {MAX_PASSWORDS} passwords")
        for password in passwords_:
            passwords.validate(password)
        call(
            "UpdateUser",
            lambda: self.client.update_user(
                UserName=user_name,
                AuthenticationMode={
                    "Type": "password",
                    "Passwords": [p.get_secret_value() for p in passwords_],
                },
            ),
            {
                "InvalidUserStateFault": lambda _: UserBusyError(
                    f"user '{user_name}' is still applying a change"
                ),
                "UserNotFoundFault": lambda _: _no_user(user_name),
            },
        )


def _endpoint(raw: Any, tls: bool) -> Endpoint:
    return Endpoint(host=str(raw.get("Address", "")), port=int(raw.get("Port", 6379)), tls=tls)
