CREATE SCHEMA "sim_cloud";
--> statement-breakpoint
CREATE TABLE "sim_cloud"."instances" (
	"id" text PRIMARY KEY NOT NULL,
	"cluster" text NOT NULL,
	"pool" text NOT NULL,
	"client_token" text NOT NULL,
	"name" text NOT NULL,
	"tags" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"ip" text NOT NULL,
	"phase" text NOT NULL,
	"launched_at" timestamp with time zone DEFAULT now() NOT NULL,
	"phase_at" timestamp with time zone DEFAULT now() NOT NULL,
	"settles_at" timestamp with time zone NOT NULL,
	"dies_at" timestamp with time zone,
	CONSTRAINT "sim_instances_phase_check" CHECK ("sim_cloud"."instances"."phase" IN ('launched', 'stopping', 'terminating', 'reimaging'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX "sim_instances_token_key" ON "sim_cloud"."instances" USING btree ("cluster","pool","client_token");--> statement-breakpoint
CREATE INDEX "sim_instances_pool_idx" ON "sim_cloud"."instances" USING btree ("cluster","pool");