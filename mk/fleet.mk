# Fleet mode at full size: one deployment (ROTATION_USER_TAG) rotates 200 tagged users and their
# secrets over 4 clusters of 2 nodes, every rotation under the reliability invariants, its AWS
# calls compared with a named-mode rotation of the same run, 4 untagged users refused with no
# write (about 2 minutes on 2 cores). `make test` runs 24 users over 3 clusters
# (tests/reliability/test_fleet.py). Pass ARGS="--log FILE" to keep the function's output.
.PHONY: fleet

fleet: install ## 200 secrets and users over 4 clusters, rotated by one fleet-mode deployment
	$(PY) -m tests.reliability.campaign.fleet --users 200 --clusters 4 --untagged 4 $(ARGS)
