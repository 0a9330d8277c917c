-- Run once by the Compose Postgres on an empty volume: the warehouse beside the instance database.
CREATE DATABASE adspipe;
