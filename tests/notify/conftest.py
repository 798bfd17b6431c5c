from tests.support.webhookreceiver import webhook_receiver  # noqa: F401
