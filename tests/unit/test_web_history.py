"""History pages when the database cannot be reached."""

import pytest

from services.common.influx import InfluxSettings
from services.web.errors import DataUnavailable
from services.web.history import HealthData
from tests.support.net import free_port


def test_an_unreachable_database_is_reported_not_raised_raw():
    data = HealthData(InfluxSettings(url=f"http://127.0.0.1:{free_port()}", timeout=2))
    try:
        with pytest.raises(DataUnavailable):
            data.latest("alice")
    finally:
        data.close()
