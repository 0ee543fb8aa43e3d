"""Shared test code, imported as ``tests.helpers.<module>`` (never imported by spylib).

* ``paths``          the repository's files the tests use (flows, configs, the small sweep, seed data);
* ``metaflow_env``   the session's isolated Metaflow datastore and the environment of flow subprocesses;
* ``flowrun``        running SpyFlow through ``metaflow.Runner`` (run, resume, fault injection, twin runs);
* ``synthetic``      the one synthetic price maker, and synthetic prediction rows;
* ``price_files``    price files in the seed, Yahoo and yfinance layouts (CSV lines, CSV text, Parquet);
* ``lake_frames``    valid frames for every lake table;
* ``registry_requests``  tiny fitted bundles and registration requests;
* ``moto_server``    a real moto server on 127.0.0.1 and the environment that points boto3 at it;
* ``cards``          the content of a rendered Metaflow card;
* ``step_functions`` the AWS resources and environment for a ``step-functions create`` on moto;
* ``tracks``         seeded walk-forward tracks for the champion/challenger tests;
* ``flow_defaults``  the Parameter and Config defaults of a flow class, read from the class itself;
* ``faultsite/``     the ``sitecustomize.py`` that injects faults into flow subprocesses (a PYTHONPATH dir);
* ``plugins/``       user-feature modules loaded by flows with ``--extra-features`` (a PYTHONPATH dir).
"""
