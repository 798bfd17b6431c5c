from tests.support.hostileregistry import hostile_registry  # noqa: F401
from tests.support.webhookreceiver import webhook_receiver  # noqa: F401
