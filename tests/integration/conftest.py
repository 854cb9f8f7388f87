from tests.integration.intacct_fixtures import *  # noqa: F403
from tests.integration.slack_fixtures import *  # noqa: F403
