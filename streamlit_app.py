"""Streamlit entry point: ``streamlit run streamlit_app.py`` (or ``./run app``)."""

from app.main import run

run()
