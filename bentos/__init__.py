"""BentoML services of the platform; `service.ChampionService` serves a pipeline's champion."""
