CREATE TABLE "tenant_turns" (
	"pool" text NOT NULL,
	"tenant" text NOT NULL,
	"last_start" double precision NOT NULL,
	"finish" double precision NOT NULL,
	CONSTRAINT "tenant_turns_pool_tenant_pk" PRIMARY KEY("pool","tenant")
);
--> statement-breakpoint
CREATE TABLE "tenants" (
	"name" text PRIMARY KEY NOT NULL,
	"weight" integer DEFAULT 1 NOT NULL,
	"max_queued" integer,
	"max_running" integer,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "tenants_weight_check" CHECK ("tenants"."weight" BETWEEN 1 AND 1000),
	CONSTRAINT "tenants_limits_check" CHECK (coalesce("tenants"."max_queued", 0) >= 0 AND coalesce("tenants"."max_running", 0) >= 0)
);
--> statement-breakpoint
INSERT INTO "tenants" ("name") VALUES ('default');--> statement-breakpoint
DROP INDEX "tasks_idempotency_key_key";--> statement-breakpoint
DROP INDEX "tasks_queued_idx";--> statement-breakpoint
ALTER TABLE "api_tokens" ADD COLUMN "tenant" text DEFAULT 'default' NOT NULL;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "tenant" text DEFAULT 'default' NOT NULL;--> statement-breakpoint
ALTER TABLE "tenant_turns" ADD CONSTRAINT "tenant_turns_pool_pools_name_fk" FOREIGN KEY ("pool") REFERENCES "public"."pools"("name") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tenant_turns" ADD CONSTRAINT "tenant_turns_tenant_tenants_name_fk" FOREIGN KEY ("tenant") REFERENCES "public"."tenants"("name") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "api_tokens" ADD CONSTRAINT "api_tokens_tenant_tenants_name_fk" FOREIGN KEY ("tenant") REFERENCES "public"."tenants"("name") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_tenant_tenants_name_fk" FOREIGN KEY ("tenant") REFERENCES "public"."tenants"("name") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "tasks_tenant_idempotency_key_key" ON "tasks" USING btree ("tenant","idempotency_key");--> statement-breakpoint
CREATE INDEX "tasks_tenant_created_idx" ON "tasks" USING btree ("tenant","created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "tasks_tenant_open_idx" ON "tasks" USING btree ("tenant","state") WHERE "tasks"."state" IN ('queued', 'assigned', 'running');--> statement-breakpoint
CREATE INDEX "tasks_queued_idx" ON "tasks" USING btree ("pool","tenant","priority" DESC NULLS LAST,"created_at","id") WHERE "tasks"."state" = 'queued';