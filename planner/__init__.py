"""Total Place planner: the shared public estate of one place, scored and optimised.

Stages, one module each: ``readers`` (load files) -> ``validate`` (check tables) ->
``register`` (the GeoPackage store) -> ``scoring`` -> ``candidates`` -> ``model`` / ``optimise``
-> ``finance`` / ``export``. No module here imports Streamlit.
"""

__version__ = "0.1.0"
