from tests.integration.intacct_fixtures import *  # noqa: F403
