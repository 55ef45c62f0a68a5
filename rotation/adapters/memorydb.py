"""UserDirectory over the MemoryDB control plane: users, where they live, who owns them.

Discovery follows the API (DescribeUsers -> DescribeACLs -> DescribeClusters with shard
details), never the secret: the secret's host could name any server, and a least-privilege user
cannot run CLUSTER SHARDS to ask the cluster itself.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from rotation import passwords
from rotation.adapters.aws import BotoAdapter, call
from rotation.errors import (
    InvalidPasswordError,
    NoClusterError,
    NodeNotReadyError,
    UserBusyError,
    UserNotFoundError,
)
from rotation.models import Cluster, Endpoint, MemoryDBUser, Node, Topology

if TYPE_CHECKING:
    from mypy_boto3_memorydb import MemoryDBClient  # noqa: F401 - named in the base class below

MAX_PASSWORDS = 2
OPEN_ACCESS_ACL = "open-access"
# The tag on a MemoryDB user naming the secret that rotates it (see docs/decisions.md).
OWNER_TAG = "memorydb-rotation:secret"


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

    def owner(self, user: MemoryDBUser) -> str | None:
        """The secret ARN in the user's owner tag, or None when no secret has claimed it."""
        response = call(
            "ListTags",
            lambda: self.client.list_tags(ResourceArn=user.arn),
            {"UserNotFoundFault": lambda _: _no_user(user.name)},
        )
        for tag in response.get("TagList", []):
            if tag.get("Key") == OWNER_TAG:
                return str(tag.get("Value", ""))
        return None

    def claim(self, user: MemoryDBUser, secret_arn: str) -> None:
        call(
            "TagResource",
            lambda: self.client.tag_resource(
                ResourceArn=user.arn, Tags=[{"Key": OWNER_TAG, "Value": secret_arn}]
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
