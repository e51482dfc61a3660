"""The Streamlit front end. Pages call ``planner``; they hold no computation."""
