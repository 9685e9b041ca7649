"""The enterprise registry: CSV import (good and bad rows), the API and its isolation, key
binding, and subscriptions that default to the enterprise's sectors and area."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from aqcast.service.auth import KeyBindingError, create_key
from aqcast.service.cli import app
from aqcast.service.enterprises import EnterpriseError, area_for_location, check_credit_code
from aqcast.service.store import engine_for, session_scope
from aqcast.service.tables import ApiKey, Enterprise, Station
from tests.service.webhooks.test_webhooks_api import client_for
from tests.support.api_seed import auth

CODE_A = "91110000600037341L"  # valid check character (GB 32100-2015)
CODE_B = "91120116300512345P"
HEADER = "name,sectors,lat,lon,street,contact,credit_code\n"
GOOD = (
    HEADER
    + "津南涂装有限公司,industrial_coating;auto_repair,38.99,117.35,咸水沽镇,"
    + f"王工 13800000001,{CODE_A}\n"
    + f"海河印务,packaging_printing,39.01,117.30,双桥河镇,李经理 13800000002,{CODE_B}\n"
    + "南站加油站,fuel_stations,38.95,117.40,八里台镇,赵站长 022-28880003,\n"
)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def write(tmp_path: Path, text: str, name: str = "ent.csv", encoding: str = "utf-8-sig") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def count(db_url: str) -> int:
    with session_scope(engine_for(db_url)) as s:
        return int(s.scalar(select(func.count()).select_from(Enterprise)))


def listed(runner: CliRunner) -> list[dict]:
    r = runner.invoke(app, ["enterprises", "list", "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_import_good_rows_then_reimport_updates(db_url, tmp_path):
    runner = CliRunner()
    r = runner.invoke(app, ["enterprises", "import", str(write(tmp_path, GOOD))])
    assert r.exit_code == 0, r.output
    assert "3 enterprise(s) added, 0 updated" in r.stdout
    rows = listed(runner)
    assert [x["name"] for x in rows] == ["津南涂装有限公司", "海河印务", "南站加油站"]
    assert rows[0]["sectors"] == ["industrial_coating", "auto_repair"]
    assert rows[0]["credit_code"] == CODE_A and rows[2]["credit_code"] is None
    assert {x["area"] for x in rows} == {"district"}  # no stations: the all-stations area
    # the same file again, one contact changed: updated in place, nothing doubled
    again = GOOD.replace("赵站长 022-28880003", "钱站长 022-28880004")
    r = runner.invoke(app, ["enterprises", "import", str(write(tmp_path, again, "b.csv"))])
    assert r.exit_code == 0, r.output
    assert "0 enterprise(s) added, 3 updated" in r.stdout
    rows = listed(runner)
    assert len(rows) == 3 and rows[2]["contact"] == "钱站长 022-28880004"
    table = runner.invoke(app, ["enterprises", "list"])
    assert table.exit_code == 0 and "津南涂装有限公司" in table.stdout


def test_import_gb18030_file_and_optional_column(sqlite_url, tmp_path):
    text = "name,sectors,lat,lon,street,contact\n工地一号,construction_sites,39,117,辛庄镇,孙工\n"
    r = CliRunner().invoke(
        app, ["enterprises", "import", str(write(tmp_path, text, encoding="gb18030"))]
    )
    assert r.exit_code == 0, r.output
    assert count(sqlite_url) == 1


def test_bad_rows_are_named_and_nothing_is_imported(db_url, tmp_path):
    bad_code = CODE_A[:-1] + "X"
    text = (
        HEADER
        + f"好企业,industrial_coating,39.0,117.3,咸水沽镇,王工,{CODE_B}\n"
        + f"坏代码,industrial_coating,39.0,117.3,咸水沽镇,王工,{bad_code}\n"
        + "坏行业,spray_booths,39.0,117.3,咸水沽镇,王工,\n"
        + "坏纬度,auto_repair,139.0,117.3,咸水沽镇,王工,\n"
        + ",auto_repair,39.0,117.3,咸水沽镇,王工,\n"
        + f"重复代码,auto_repair,39.0,117.3,咸水沽镇,王工,{CODE_B}\n"
    )
    r = CliRunner().invoke(app, ["enterprises", "import", str(write(tmp_path, text))])
    assert r.exit_code == 1
    err = r.stderr
    assert "line 3, field credit_code" in err and "check character" in err
    assert "line 4, field sectors" in err and "spray_booths" in err
    assert "line 5, field lat" in err and "139.0" in err
    assert "line 6, field name" in err and "is empty" in err
    assert "line 7, field credit_code" in err and "already on line 2" in err
    assert "nothing imported" in err and "Traceback" not in r.output
    assert count(db_url) == 0  # the good row of the file is not stored either


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("name,sectors,lat,lon,street\nA,auto_repair,1,2,街\n", "missing column(s) contact"),
        (
            "name,sectors,lat,lon,street,contact,phone\nA,auto_repair,1,2,街,王,1\n",
            "unknown column(s) phone",
        ),
        ("name,sectors,lat,lon,street,contact\n", "no enterprise rows"),
        ("name,sectors,lat,lon,street,contact\nA,auto_repair,1,2,街,王,extra\n", "line 2"),
    ],
)
def test_file_level_errors(sqlite_url, tmp_path, text, needle):
    r = CliRunner().invoke(app, ["enterprises", "import", str(write(tmp_path, text))])
    assert r.exit_code == 1 and needle in r.stderr, r.stderr
    assert count(sqlite_url) == 0


def test_missing_file_is_one_line(sqlite_url, tmp_path):
    r = CliRunner().invoke(app, ["enterprises", "import", str(tmp_path / "nope.csv")])
    assert r.exit_code == 1 and "cannot be read" in r.stderr and "Traceback" not in r.output


def test_credit_code_check_character():
    assert check_credit_code(CODE_A.lower()) == CODE_A
    for bad, why in [(CODE_A[:-1] + "M", "check character"), ("9111", "18 characters")]:
        with pytest.raises(EnterpriseError, match=why):
            check_credit_code(bad)


def test_area_follows_the_nearest_station():
    stations = [("A1", 39.0, 117.0), ("B1", 39.5, 117.5)]
    areas = {"district": "all", "north": ["B1"], "south": ["A1"]}
    assert area_for_location(39.45, 117.45, stations, areas) == "north"
    assert area_for_location(39.05, 117.0, stations, areas) == "south"
    assert area_for_location(39.05, 117.0, stations, {"district": "all"}) == "district"
    assert area_for_location(39.05, 117.0, [], areas) == "district"


def _import(db_url: str, tmp_path: Path) -> list[int]:
    r = CliRunner().invoke(app, ["enterprises", "import", str(write(tmp_path, GOOD))])
    assert r.exit_code == 0, r.output
    with session_scope(engine_for(db_url)) as s:
        return list(s.scalars(select(Enterprise.id).order_by(Enterprise.id)))


def test_keys_create_binds_an_enterprise_key(db_url, tmp_path):
    ids = _import(db_url, tmp_path)
    runner = CliRunner()
    r = runner.invoke(
        app,
        [
            "keys",
            "create",
            "--role",
            "enterprise",
            "--name",
            "津南涂装",
            "--enterprise",
            str(ids[0]),
        ],
    )
    assert r.exit_code == 0, r.output
    key = r.stdout.strip()
    with session_scope(engine_for(db_url)) as s:
        row = s.scalar(select(ApiKey).where(ApiKey.name == "津南涂装"))
        assert row.enterprise_id == ids[0]
    assert key.startswith("aqk_")
    for args, needle in [
        (["--role", "officer", "--enterprise", str(ids[0])], "only an enterprise key"),
        (["--role", "enterprise", "--enterprise", "999"], "no enterprise with id 999"),
    ]:
        r = runner.invoke(app, ["keys", "create", "--name", "x", *args])
        assert r.exit_code != 0 and needle in r.output, r.output
    with session_scope(engine_for(db_url)) as s, pytest.raises(KeyBindingError):
        create_key(s, name="y", role="dispatcher", now=utcnow(), enterprise_id=ids[0])


def _keys(db_url: str, ids: list[int]) -> dict[str, dict]:
    out = {}
    with session_scope(engine_for(db_url)) as s:
        for name, role, ent in [
            ("ent_a", "enterprise", ids[0]),
            ("ent_b", "enterprise", ids[1]),
            ("unbound", "enterprise", None),
            ("officer", "officer", None),
            ("dispatcher", "dispatcher", None),
            ("admin", "admin", None),
        ]:
            _, key = create_key(s, name=name, role=role, now=utcnow(), enterprise_id=ent)
            out[name] = auth(key)
    return out


@pytest.mark.slow
def test_api_roles_and_isolation(db_url, tmp_path):
    ids = _import(db_url, tmp_path)
    k = _keys(db_url, ids)
    with client_for(db_url) as c:
        # readers see every enterprise, an enterprise only itself
        assert c.get("/v1/enterprises", headers=k["dispatcher"]).json()["total"] == 3
        mine = c.get("/v1/enterprises", headers=k["ent_a"]).json()
        assert [e["id"] for e in mine["items"]] == [ids[0]]
        assert c.get("/v1/enterprises", headers=k["unbound"]).json()["total"] == 0
        assert c.get(f"/v1/enterprises/{ids[0]}", headers=k["ent_a"]).status_code == 200
        other = c.get(f"/v1/enterprises/{ids[1]}", headers=k["ent_a"])
        missing = c.get("/v1/enterprises/999", headers=k["ent_a"])
        assert other.status_code == missing.status_code == 404
        assert other.json()["error"]["message"].replace(str(ids[1]), "N") == missing.json()[
            "error"
        ]["message"].replace("999", "N")
        assert (
            c.get(f"/v1/enterprises/{ids[1]}/acknowledgements", headers=k["ent_a"]).status_code
            == 404
        )
        # officer and admin write; dispatcher and enterprise keys do not
        body = {
            "name": "新工地",
            "sectors": ["construction_sites"],
            "lat": 39.0,
            "lon": 117.2,
            "street": "北闸口镇",
            "contact": "周工",
        }
        for who in ("dispatcher", "ent_a"):
            assert c.post("/v1/enterprises", json=body, headers=k[who]).status_code == 403
        r = c.post("/v1/enterprises", json=body, headers=k["officer"])
        assert r.status_code == 201 and r.json()["area"] == "district", r.text
        new_id = r.json()["id"]
        bad = c.post("/v1/enterprises", json={**body, "sectors": ["spraying"]}, headers=k["admin"])
        assert bad.status_code == 422 and "spraying" in bad.text
        bad = c.post(
            "/v1/enterprises", json={**body, "credit_code": CODE_A[:-1] + "M"}, headers=k["admin"]
        )
        assert bad.status_code == 422 and "check character" in bad.text
        dup = c.post("/v1/enterprises", json={**body, "credit_code": CODE_A}, headers=k["admin"])
        assert dup.status_code == 409
        r = c.patch(f"/v1/enterprises/{new_id}", json={"contact": "吴工"}, headers=k["admin"])
        assert r.status_code == 200 and r.json()["contact"] == "吴工"
        assert (
            c.patch(
                f"/v1/enterprises/{new_id}", json={"contact": "x"}, headers=k["ent_a"]
            ).status_code
            == 403
        )
        # a key bound through the API
        r = c.post(
            "/v1/keys",
            json={"name": "新工地", "role": "enterprise", "enterprise_id": new_id},
            headers=k["admin"],
        )
        assert r.status_code == 201 and r.json()["enterprise_id"] == new_id
        r = c.post(
            "/v1/keys",
            json={"name": "x", "role": "officer", "enterprise_id": new_id},
            headers=k["admin"],
        )
        assert r.status_code == 409
        r = c.post(
            "/v1/keys",
            json={"name": "x", "role": "enterprise", "enterprise_id": 9999},
            headers=k["admin"],
        )
        assert r.status_code == 404


def test_subscriptions_default_to_the_enterprise(db_url, tmp_path):
    ids = _import(db_url, tmp_path)
    k = _keys(db_url, ids)
    with session_scope(engine_for(db_url)) as s:
        # a station makes a named area for enterprise A's neighbourhood
        s.add(Station(code="JN1", name="Jinnan", lat=38.99, lon=117.35, source="test"))
    with client_for(db_url) as c:
        url = "http://127.0.0.1:9/hook"
        r = c.post(
            "/v1/subscriptions", json={"url": url, "event_types": ["advisory"]}, headers=k["ent_a"]
        )
        assert r.status_code == 201, r.text
        assert r.json()["sectors"] == ["industrial_coating", "auto_repair"]
        assert r.json()["areas"] == ["district"]
        assert r.json()["format"] == "standard"
        r = c.post(
            "/v1/subscriptions",
            json={"url": url, "event_types": ["advisory"], "sectors": [], "areas": ["north"]},
            headers=k["ent_a"],
        )
        assert r.json()["sectors"] == [] and r.json()["areas"] == ["north"]  # explicit wins
        r = c.post(
            "/v1/subscriptions",
            json={"url": url, "event_types": ["advisory"]},
            headers=k["unbound"],
        )
        assert r.json()["sectors"] == [] and r.json()["areas"] == []


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_migration_keeps_existing_keys_and_subscriptions(backend, tmp_path, request):
    """Upgrading a store that already has keys and subscriptions: they stay, unbound and in
    the standard format."""
    from alembic import command
    from sqlalchemy import inspect, text

    from aqcast.service.store import alembic_config
    from tests.conftest import drop_pg_database, make_pg_database

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        admin = request.getfixturevalue("pg_server")
        url = make_pg_database(admin)
    try:
        cfg, engine = alembic_config(url), engine_for(url)
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0001")
        t = utcnow()
        with engine.begin() as conn:
            conn.execute(
                text(
                    "insert into api_keys (name, role, prefix, key_hash, created_at) "
                    "values ('a', 'enterprise', 'aqk_x', 'h', :t)"
                ),
                {"t": t},
            )
            conn.execute(
                text(
                    "insert into subscriptions (id, owner_key_id, url, event_types, areas, "
                    "sectors, language, secret, status, flagged, created_at, updated_at) values "
                    "('sub_1', 1, 'https://x.example/h', '[]', '[]', '[]', 'zh', 's', 'active', "
                    "false, :t, :t)"
                ),
                {"t": t},
            )
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        with engine.begin() as conn:
            assert conn.execute(text("select format, robot_secret from subscriptions")).one() == (
                "standard",
                None,
            )
            assert conn.execute(text("select enterprise_id from api_keys")).one() == (None,)
            names = set(inspect(conn).get_table_names())
            assert {"enterprises", "acknowledgements"} <= names
            fks = inspect(conn).get_foreign_keys("api_keys")
            assert any(fk["referred_table"] == "enterprises" for fk in fks)
    finally:
        engine_for(url).dispose()
        if backend == "postgres":
            drop_pg_database(request.getfixturevalue("pg_server"), url)
        engine_for.cache_clear()


def test_unmigrated_database_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("AQCAST_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    from aqcast.service import settings as settings_module

    settings_module.get_settings.cache_clear()
    r = CliRunner().invoke(app, ["enterprises", "import", str(write(tmp_path, GOOD))])
    assert r.exit_code == 2 and "aqcast migrate" in r.stderr and "Traceback" not in r.output
    r = CliRunner().invoke(app, ["enterprises", "list"])
    assert r.exit_code == 2 and "not migrated" in r.stderr
